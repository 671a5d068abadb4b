"""The real sample datasets in ../shared/data (or $FUSIONLAB_DATA): pairs, names, sizes, a/b, colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionlab.color import restore_color
from fusionlab.data.datasets import REAL_DATASETS
from fusionlab.data.io import read_image
from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.data.splits import SplitError

# Exactly what ../shared/data/README.md lists.
MSRS_TRAIN = ["00556D", "00881N"]
MSRS_TEST = ["00004N", "00012N", "00020N", "00028N", "00036N", "00047N", "00055D", "00085D", "00095D",
             "00103D", "00537D"]
M3FD = ["00000", "00325", "00572", "00829", "01212", "01511", "01856", "02180", "02572", "03219"]
ROADSCENE = ["FLIR_00006", "FLIR_00578", "FLIR_03801", "FLIR_04370", "FLIR_04726", "FLIR_05072", "FLIR_05767",
             "FLIR_06236", "FLIR_06660", "FLIR_06983", "FLIR_07202", "FLIR_07583", "FLIR_08248", "FLIR_08932",
             "FLIR_09465", "FLIR_video_00727"]
HARVARD = {"CT-MRI": ["16003", "2005", "28007", "33011", "37006"],
           "PET-MRI": ["25015", "25071", "30039", "30096", "41061"],
           "SPECT-MRI": ["10007", "18008", "25013", "3032", "40026"]}
MEF = ["507", "Arno", "ColorChecker", "Farmhouse", "ICCV_01", "Knossos6", "Sky", "crete", "disney1", "flower",
       "hongkong_01", "road"]
LYTRO = [f"lytro-{n:02d}" for n in range(1, 20, 2)]

EXPECTED_TEST = {"msrs": MSRS_TEST, "m3fd": M3FD, "roadscene": ROADSCENE, "mef": MEF, "lytro": LYTRO,
                 "lytro/triple": ["lytro-01", "lytro-03"],
                 **{f"harvard/{g}": names for g, names in HARVARD.items()},
                 "harvard": [f"{g}_{n}" for g, names in HARVARD.items() for n in names]}
TASKS = {"msrs": "ivif", "m3fd": "ivif", "roadscene": "ivif", "mef": "mef", "lytro": "mff", "lytro/triple": "mff",
         "harvard": "mif", **{f"harvard/{g}": "mif" for g in HARVARD}}
# Which sources carry chroma (gray stored as RGB, the M3FD IR, counts as gray).
CHROMA = {"msrs": (False, True), "m3fd": (False, True), "roadscene": (False, True), "harvard/CT-MRI": (False, False),
          "harvard/PET-MRI": (False, True), "harvard/SPECT-MRI": (False, True), "mef": (True, True),
          "lytro": (True, True), "lytro/triple": (True, True)}


def build(data_dir: Path, key: str, split: str = "test", patch: int | None = None, augment: bool = False,
          **options):
    return get_source(key).build(BuildRequest(data_dir, split, patch, augment, 0, options))


def header_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size[1], img.size[0]


def test_every_key_is_registered_with_its_task_and_root():
    assert set(EXPECTED_TEST) == set(REAL_DATASETS)
    for key, task in TASKS.items():
        spec = get_source(key)
        assert (spec.task, spec.root) == (task, key.split("/")[0]) and not spec.embedded


@pytest.mark.parametrize("key", sorted(EXPECTED_TEST))
def test_test_split_yields_exactly_the_listed_pairs_with_contract_samples(data_dir, key):
    ds = build(data_dir, key)
    assert sorted(ds.names) == sorted(EXPECTED_TEST[key])
    has_a, has_b = CHROMA.get(key, (False, None))
    for i in sorted({0, len(ds) - 1}):  # decode the first and last; headers are checked for all at build
        pair, s = ds.pairs[i], ds[i]
        h, w = header_size(pair.a)
        assert header_size(pair.b) == (h, w) == pair.size
        assert s["a"].shape == s["b"].shape == (1, h, w)
        assert s["a"].dtype == s["b"].dtype == torch.float32
        assert 0.0 <= float(s["a"].min()) and float(s["a"].max()) <= 1.0
        assert (s["name"], s["task"], s["dataset"]) == (pair.name, TASKS[key], key)
        assert "target" not in s
        assert ("cbcr_a" in s) == has_a
        if has_b is not None:
            assert ("cbcr_b" in s) == has_b
        for c in ("cbcr_a", "cbcr_b"):
            if c in s:
                assert s[c].shape == (2, h, w) and s[c].dtype == torch.float32


def test_sizes_match_the_readme(data_dir):
    for key in EXPECTED_TEST:
        assert all(header_size(p.a) == header_size(p.b) == p.size for p in build(data_dir, key).pairs)
    assert {p.size for p in build(data_dir, "msrs").pairs} == {(480, 640)}
    m3fd = {p.name: p.size for p in build(data_dir, "m3fd").pairs}
    assert m3fd.pop("01511") == (480, 800) and set(m3fd.values()) == {(768, 1024)}
    assert {p.size for p in build(data_dir, "harvard").pairs} == {(256, 256)}
    assert {p.size for p in build(data_dir, "lytro").pairs} == {(520, 520)}
    assert len({p.size for p in build(data_dir, "roadscene").pairs}) > 5  # sizes vary per pair


def test_source_assignment_follows_the_task_conventions(data_dir):
    msrs = build(data_dir, "msrs")
    assert msrs.pairs[0].a.parent.name == "ir" and msrs.pairs[0].b.parent.name == "vi"
    m3fd = build(data_dir, "m3fd").pairs[0]
    assert (m3fd.a.parent.name, m3fd.b.parent.name) == ("Ir", "Vis")
    rs = build(data_dir, "roadscene").pairs[0]
    assert (rs.a.parent.name, rs.b.parent.name) == ("cropinfrared", "crop_LR_visible")
    for g, other in (("CT-MRI", "CT"), ("PET-MRI", "PET"), ("SPECT-MRI", "SPECT")):
        p = build(data_dir, f"harvard/{g}").pairs[0]
        assert (p.a.parent.name, p.b.parent.name) == ("MRI", other)
    lytro = build(data_dir, "lytro").pairs[0]
    assert lytro.a.name == "lytro-01-A.jpg" and lytro.b.name == "lytro-01-B.jpg"
    triple = build(data_dir, "lytro/triple").pairs[0]
    assert [f.name for f in triple.files] == ["lytro-01-A.jpg", "lytro-01-B.jpg", "lytro-01-C.jpg"]


def test_mef_picks_a_b_case_insensitively_and_a_is_darker(data_dir):
    ds = build(data_dir, "mef")
    chosen = {p.name: (p.a.name, p.b.name) for p in ds.pairs}
    assert chosen["Sky"] == ("sKY_a.png", "Sky_B.png")  # JPEG bytes in a .png, odd case
    assert chosen["Farmhouse"] == ("Farmhouse_A.png", "FarmHouse_B.png")
    assert chosen["507"] == ("507_A.tif", "507_B.tif")  # not the duplicate _MDF originals
    assert chosen["disney1"] == ("disney1_A.JPG", "disney1_B.jpg")
    for i in range(len(ds)):
        s = ds[i]
        assert float(s["a"].mean()) < float(s["b"].mean()), s["name"]


def test_m3fd_three_channel_ir_becomes_one_luminance_channel(data_dir):
    ds = build(data_dir, "m3fd")
    s = ds[0]
    raw = read_image(ds.pairs[0].a)
    assert raw.ndim == 3 and np.array_equal(raw[..., 0], raw[..., 1])
    assert "cbcr_a" not in s
    assert np.allclose(s["a"][0].numpy(), raw[..., 0], atol=1e-6)


@pytest.mark.parametrize("key", ["msrs", "harvard/PET-MRI", "lytro"])
def test_colour_round_trip_stays_within_one_gray_level(data_dir, key):
    ds = build(data_dir, key)
    s = ds[0]
    rgb = torch.from_numpy(read_image(ds.pairs[0].b)).permute(2, 0, 1)
    back = restore_color(s["b"], None, s["cbcr_b"])
    assert back.shape == rgb.shape
    assert float((back - rgb).abs().max()) * 255 <= 1.0


def test_harvard_pet_chroma_is_restored_onto_the_fused_luminance(data_dir):
    s = build(data_dir, "harvard/PET-MRI")[0]
    fused = torch.maximum(s["a"], s["b"])  # any fused luminance
    rgb = restore_color(fused, s.get("cbcr_a"), s["cbcr_b"])
    assert rgb.shape == (3, 256, 256)
    spread = rgb.max(0).values - rgb.min(0).values
    assert float(spread.max()) > 0.3  # clearly coloured (pseudo-colour PET), not gray
    ct = build(data_dir, "harvard/CT-MRI")[0]
    assert restore_color(ct["a"], None, None).shape == (1, 256, 256)  # gray stays gray


def test_msrs_val_is_a_seeded_held_out_slice_of_train(data_dir):
    train = build(data_dir, "msrs", "train", 64, True)
    val = build(data_dir, "msrs", "val")
    assert sorted(train.names + val.names) == MSRS_TRAIN
    assert not set(train.names) & set(val.names) and len(val) == 1
    assert build(data_dir, "msrs", "val").names == val.names  # deterministic
    assert val[0]["a"].shape == (1, 480, 640)  # validation uses full images


def test_test_only_datasets_refuse_training_unless_a_split_is_configured(data_dir, tmp_path):
    with pytest.raises(SplitError, match=r"roadscene is a test-only dataset by default.*splits=\{roadscene: 0.8\}"):
        build(data_dir, "roadscene", "train", 64, True)
    opts = {"splits": {"roadscene": 0.75}}
    parts = {s: build(data_dir, "roadscene", s, **opts).names for s in ("train", "val", "test")}
    assert sorted(sum(parts.values(), [])) == sorted(ROADSCENE)
    assert all(parts.values()) and len(set(sum(parts.values(), []))) == len(ROADSCENE)
    # a combined-key split keeps group test splits free of training pairs
    opts = {"splits": {"harvard": 0.6}}
    trained = {n.split("_", 1)[1] for s in ("train", "val") for n in build(data_dir, "harvard", s, **opts).names}
    tested = {n for g in HARVARD for n in build(data_dir, f"harvard/{g}", "test", **opts).names}
    assert not trained & tested and len(trained | tested) == 15
    split_file = tmp_path / "split.json"
    split_file.write_text('{"train": ["lytro-01", "lytro-03"], "val": ["lytro-05"], "test": ["lytro-07"]}')
    opts = {"splits": {"lytro": str(split_file)}}
    assert build(data_dir, "lytro", "train", 64, True, **opts).names == ["lytro-01", "lytro-03"]
    assert build(data_dir, "lytro", "test", **opts).names == ["lytro-07"]
    split_file.write_text('{"train": ["lytro-02"]}')
    with pytest.raises(SplitError, match="unknown pairs.*lytro-02"):
        build(data_dir, "lytro", "train", 64, True, **opts)


def test_training_samples_are_patches_with_chroma_and_augmentation(data_dir):
    ds = build(data_dir, "msrs", "train", 64, True, val_fraction=0.0)
    seen = set()
    for i in range(6):
        s = ds[i % len(ds)]
        assert s["a"].shape == s["b"].shape == (1, 64, 64) and s["cbcr_b"].shape == (2, 64, 64)
        seen.add(float(s["a"].sum()))
    assert len(seen) > 1  # random crops differ
    assert ds._cache  # decoded training images are cached (uint8) for the next crops
    assert all(v.dtype == np.uint8 for v in ds._cache.values())


def test_the_datamodule_trains_on_real_msrs_and_tests_the_zero_shot_suite(data_dir):
    from fusionlab.data.datamodule import FusionDataModule

    suite = ["msrs", "roadscene", "m3fd", "harvard/CT-MRI", "harvard/PET-MRI", "harvard/SPECT-MRI", "mef", "lytro"]
    dm = FusionDataModule(train=[{"source": "msrs"}], test=suite, data_dir=data_dir, mode="real", batch_size=4,
                          samples_per_epoch=8, options={"real": {"on_bad_pair": "error"}})
    dm.setup(None)
    batch = next(iter(dm.train_dataloader()))
    assert batch["a"].shape == (4, 1, 64, 64) and batch["cbcr_b"].shape == (4, 2, 64, 64)
    assert dm.test_names == suite
    assert [len(d) for d in dm._test.values()] == [11, 16, 10, 5, 5, 5, 12, 10]

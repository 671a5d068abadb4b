"""Bad inputs built in temporary folders: each gives the stated message (error, or warning + count)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusionlab.data.pairing import BadPairError, DatasetError, DatasetLayoutError
from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.data.verify import format_reports, verify

IR, VI = "cropinfrared", "crop_LR_visible"  # the RoadScene layout: two parallel folders


def save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)
    return path


def gray(h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def rgb(h: int = 32, w: int = 40, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_roadscene(root: Path, names=("p1", "p2", "p3")) -> Path:
    for i, n in enumerate(names):
        save(root / "roadscene" / IR / f"{n}.png", gray(seed=i))
        save(root / "roadscene" / VI / f"{n}.png", rgb(seed=10 + i))
    return root / "roadscene"


def build(data_dir: Path, key: str = "roadscene", split: str = "test", patch: int | None = None, **options):
    return get_source(key).build(BuildRequest(data_dir, split, patch, patch is not None, 0, options))


def test_clean_folder_builds(tmp_path):
    make_roadscene(tmp_path)
    assert build(tmp_path).names == ["p1", "p2", "p3"]


def test_unpaired_file_errors_or_is_skipped_with_a_count(tmp_path):
    root = make_roadscene(tmp_path)
    extra = save(root / IR / "lonely.png", gray())
    with pytest.raises(BadPairError, match=rf"(?s)unpaired: no file named lonely\.\* in .*{VI}.*on_bad_pair=skip"):
        build(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 1 bad pair\(s\) \(on_bad_pair=skip\)") as rec:
        ds = build(tmp_path, on_bad_pair="skip")
    assert str(extra) in str(rec[0].message)
    assert ds.names == ["p1", "p2", "p3"] and ds.skipped == 1


def test_size_mismatch_inside_a_pair_names_both_files(tmp_path):
    root = make_roadscene(tmp_path)
    save(root / VI / "p2.png", rgb(32, 48))
    with pytest.raises(BadPairError, match=r"p2: size mismatch inside the pair: p2.png is 40x32, p2.png is 48x32"):
        build(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 bad pair"):
        assert build(tmp_path, on_bad_pair="skip").names == ["p1", "p3"]


def test_unreadable_image_is_reported_at_build_time(tmp_path):
    root = make_roadscene(tmp_path)
    bad = root / IR / "p1.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(BadPairError, match=rf"unreadable image {bad}"):
        build(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert build(tmp_path, on_bad_pair="skip").names == ["p2", "p3"]


def test_truncated_image_fails_on_decode_naming_the_file(tmp_path):
    root = make_roadscene(tmp_path)
    good = save(root / VI / "p3.png", rgb(64, 64, seed=5))
    save(root / IR / "p3.png", gray(64, 64))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    ds = build(tmp_path)  # header check passes
    with pytest.raises(ValueError, match=rf"cannot decode image {good}"):
        ds[ds.names.index("p3")]
    with pytest.raises(BadPairError, match=rf"unreadable image {good}"):
        build(tmp_path, verify="full")  # full verification catches it at build time
    with pytest.warns(UserWarning, match="skipped 1"):
        assert build(tmp_path, verify="full", on_bad_pair="skip").names == ["p1", "p2"]
    # training with skip: the sample is replaced by another pair, with a warning and a count
    train = build(tmp_path, "roadscene", "train", 16, on_bad_pair="skip", splits={"roadscene": 0.99}, val_fraction=0.0)
    assert "p3" in train.names
    with pytest.warns(UserWarning, match=rf"cannot decode image {good}.*using another pair"):
        s = train[train.names.index("p3")]
    assert s["a"].shape == (1, 16, 16) and train.skipped_at_load >= 1


def test_empty_and_missing_folders_are_errors(tmp_path):
    (tmp_path / "roadscene" / IR).mkdir(parents=True)
    (tmp_path / "roadscene" / VI).mkdir(parents=True)
    (tmp_path / "roadscene" / IR / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetLayoutError, match=rf"folder .*{IR} holds no images"):
        build(tmp_path)
    with pytest.raises(DatasetLayoutError, match=r"expected folder .*M3FD_Fusion/Ir does not exist"):
        build(tmp_path, "m3fd")
    (tmp_path / "mef" / "input").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="holds no scene folders"):
        build(tmp_path, "mef")


def test_ambiguous_names_never_mis_pair(tmp_path):
    root = make_roadscene(tmp_path)
    save(root / IR / "p1.jpg", gray())
    with pytest.raises(BadPairError, match=r"ambiguous: several files share the name 'p1': p1.jpg, p1.png"):
        build(tmp_path)


def test_sixteen_bit_images_are_scaled_not_truncated(tmp_path):
    root = make_roadscene(tmp_path, names=("p1",))
    values = np.linspace(0, 65535, 32 * 40).astype(np.uint16).reshape(32, 40)
    values[0, 0] = 1000
    save(root / IR / "p1.png", values)  # uint16 -> a 16-bit PNG
    with Image.open(root / IR / "p1.png") as img:
        assert img.mode == "I;16"
    a = build(tmp_path)[0]["a"][0].numpy()
    assert np.allclose(a, values / 65535.0, atol=1e-6)
    assert a.max() == pytest.approx(1.0) and a[0, 0] == pytest.approx(1000 / 65535)


@pytest.mark.parametrize(("mode", "channels", "chroma", "warns"),
                         [("L", 1, False, False), ("LA", 2, False, True), ("RGB", 3, True, False),
                          ("RGBA", 4, True, True)])
def test_one_to_four_channel_images(tmp_path, mode, channels, chroma, warns):
    root = make_roadscene(tmp_path, names=("p1",))
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (32, 40, channels), dtype=np.uint8)
    path = save(root / VI / "p1.png", arr[..., 0] if channels == 1 else arr, mode=mode)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = build(tmp_path)
    alpha = [w for w in rec if "alpha channel is ignored" in str(w.message)]
    assert bool(alpha) == warns
    if warns:
        assert str(path) in str(alpha[0].message) and f"{channels}-channel" in str(alpha[0].message)
    s = ds[0]
    assert s["b"].shape == (1, 32, 40) and ("cbcr_b" in s) == chroma
    expected = arr[..., 0] if channels <= 2 else arr[..., :3] @ np.array([0.299, 0.587, 0.114])
    assert np.allclose(s["b"][0].numpy() * 255, expected, atol=1e-3)


def test_images_smaller_than_the_patch(tmp_path):
    make_roadscene(tmp_path)  # 40x32 images
    opts = {"splits": {"roadscene": 0.99}, "val_fraction": 0.0}
    with pytest.raises(BadPairError, match=r"p1\.png is 40x32, smaller than the training patch 48x48.*small_images"):
        build(tmp_path, "roadscene", "train", 48, **opts)
    padded = build(tmp_path, "roadscene", "train", 48, small_images="pad", **opts)
    assert padded[0]["a"].shape == (1, 48, 48)
    with pytest.warns(UserWarning, match="skipped 3"):
        assert len(build(tmp_path, "roadscene", "train", 48, small_images="skip", **opts)) == 0


def test_mef_scene_problems_name_the_scene(tmp_path):
    scene = tmp_path / "mef" / "input"
    save(scene / "Good" / "good_a.JPG", rgb(seed=1))
    save(scene / "Good" / "GOOD_B.png", rgb(seed=2))
    save(scene / "Good" / "IMG_0001.png", rgb(seed=1))  # duplicate original: ignored
    save(scene / "NoOver" / "NoOver_A.jpg", rgb())
    save(scene / "NoOver" / "original.jpg", rgb())
    save(scene / "Twice" / "x_A.png", rgb())
    save(scene / "Twice" / "y_A.png", rgb())
    save(scene / "Twice" / "Twice_B.png", rgb())
    with pytest.raises(BadPairError) as err:
        build(tmp_path, "mef")
    msg = str(err.value)
    assert "NoOver: no NoOver_B.* image (found: NoOver_A.jpg, original.jpg)" in msg
    assert "Twice: ambiguous _A images: x_A.png, y_A.png" in msg
    with pytest.warns(UserWarning, match="skipped 2"):
        ds = build(tmp_path, "mef", on_bad_pair="skip")
    assert ds.names == ["Good"] and (ds.pairs[0].a.name, ds.pairs[0].b.name) == ("good_a.JPG", "GOOD_B.png")


def test_lytro_missing_partner(tmp_path):
    save(tmp_path / "lytro" / "lytro-01-A.jpg", rgb())
    save(tmp_path / "lytro" / "lytro-01-B.jpg", rgb())
    save(tmp_path / "lytro" / "lytro-02-A.jpg", rgb())
    with pytest.raises(BadPairError, match=r"lytro-02: unpaired: lytro-02-A.jpg has no -B partner"):
        build(tmp_path, "lytro")


def test_unknown_or_invalid_options_fail_loudly(tmp_path):
    make_roadscene(tmp_path)
    with pytest.raises(DatasetError, match=r"unknown data.options.real key\(s\) \['on_bad_pairs'\]; known: "):
        build(tmp_path, on_bad_pairs="skip")
    with pytest.raises(DatasetError, match="on_bad_pair must be one of"):
        build(tmp_path, on_bad_pair="ignore")


def test_verify_reports_counts_sizes_and_problems(tmp_path):
    root = make_roadscene(tmp_path)
    save(root / IR / "lonely.png", gray())
    (reports,) = verify(tmp_path, ["roadscene"])
    assert reports.counts == {"all": 3} and reports.sizes == [(32, 40)] * 3 and len(reports.problems) == 1
    text = format_reports(verify(tmp_path))
    assert re.search(r"roadscene +1 problem\(s\) +3 +40x32", text) and "unpaired: no file named lonely" in text
    assert re.search(r"msrs +missing", text) and "python -m fusionlab.data download msrs" in text

"""The full releases hold more than the shared sample: what our loaders must skip or accept there.

The sample in ``../shared/data`` avoided some of the official releases' quirks on purpose (its README): MEFB
scene folders with non-ASCII file names (Lamp, Lighthouse, Room), an ``ev.txt`` (ArchSequence) and the source
exposures kept beside ``<Scene>_A/_B``; RoadScene's ``crop_HR_visible/`` (another size) and ``infrared/``
(uncropped PNGs); the Lytro zip's ``Readme.txt``; Harvard's ``MyDatasets/`` re-split; MSRS's segmentation labels.
A check on the full datasets meets all of them, so a tree with each quirk (tiny generated images, nothing copied
from the sample) goes through the documented commands, ``python -m fusionlab.data verify --root`` and the README's
``python -m fusionlab.evaluate pretrained=fusionnet_ivif methods=[average,gff] eval=zero_shot paths.data_dir=...``.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "docs"))
from doc_helpers import command_env  # noqa: E402  (the environment of a fresh clone, as the docs tests use)

SIDE = 64  # the miniature side the documented-command tests evaluate real content at (96) would also do


def _save(path: Path, seed: int, color: bool | str, size: tuple[int, int] = (SIDE, SIDE),
          fmt: str | None = None) -> None:
    """A random image (noise on a gradient), so every metric has structure to read; ``color="gray3"`` stores a
    gray image as three equal channels, as M3FD stores its infrared."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = np.add.outer(np.linspace(40, 200, h), np.linspace(0, 30, w))
    noise = rng.normal(0, 25, (h, w))
    img = np.clip(base + noise, 0, 255).astype(np.uint8)
    if color == "gray3":
        arr = np.stack([img] * 3, -1)
    else:
        arr = np.stack([img, np.roll(img, 3, 0), np.roll(img, 5, 1)], -1) if color else img
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)


def full_release_tree(root: Path) -> dict[str, set[str]]:
    """Every dataset in its official layout with the full releases' extras; returns the pair names each key
    must yield (the extras must yield none)."""
    seed = iter(range(10_000))
    for split, ids in (("train", ["00001D", "00002N"]), ("test", ["00003N", "00004D"])):
        for i in ids:
            _save(root / f"msrs/{split}/ir/{i}.png", next(seed), False)
            _save(root / f"msrs/{split}/vi/{i}.png", next(seed), True)
            _save(root / f"msrs/{split}/Segmentation_labels/{i}.png", next(seed), False)  # not a source
    for i in ("00000", "00001"):
        _save(root / f"m3fd/M3FD_Fusion/Ir/{i}.png", next(seed), "gray3")
        _save(root / f"m3fd/M3FD_Fusion/Vis/{i}.png", next(seed), True)
    for i in ("FLIR_00006", "FLIR_video_00727"):
        _save(root / f"roadscene/cropinfrared/{i}.jpg", next(seed), False)
        _save(root / f"roadscene/crop_LR_visible/{i}.jpg", next(seed), True)
        _save(root / f"roadscene/crop_HR_visible/{i}.jpg", next(seed), True, (2 * SIDE, 2 * SIDE))
        _save(root / f"roadscene/infrared/{i}.png", next(seed), False, (80, 96))
    for group, other in (("CT-MRI", "CT"), ("PET-MRI", "PET"), ("SPECT-MRI", "SPECT")):
        for n in ("2005", "16003"):
            _save(root / f"harvard/{group}/MRI/{n}.png", next(seed), False)
            _save(root / f"harvard/{group}/{other}/{n}.png", next(seed), other != "CT")
    for split in ("train", "test"):  # the source repository's own re-split, beside the three groups
        _save(root / f"harvard/MyDatasets/CT-MRI/{split}/CT/1.png", next(seed), False)
        _save(root / f"harvard/MyDatasets/CT-MRI/{split}/MRI/1.png", next(seed), False)
    mef = root / "mef/input"
    _save(mef / "Room/Room_A.jpg", next(seed), True)
    _save(mef / "Room/Room_B.jpg", next(seed), True)
    _save(mef / "Room/Zimmer_überbelichtet.jpg", next(seed), True)  # a non-ASCII original beside A/B
    _save(mef / "Lämpchen/Lämpchen_A.png", next(seed), True)          # a non-ASCII scene name
    _save(mef / "Lämpchen/Lämpchen_B.png", next(seed), True)
    _save(mef / "ArchSequence/ArchSequence_A.tif", next(seed), True)
    _save(mef / "ArchSequence/ArchSequence_B.tif", next(seed), True)
    _save(mef / "ArchSequence/ArchSequence2.tif", next(seed), True)  # a third exposure of the bracket
    (mef / "ArchSequence/ev.txt").write_text("-2\n0\n2\n")
    _save(mef / "Sky/sKY_a.png", next(seed), True, fmt="JPEG")  # JPEG bytes in a .png, case-mixed suffix
    _save(mef / "Sky/sKY_B.png", next(seed), True, fmt="JPEG")
    for n in ("01", "02"):
        _save(root / f"lytro/lytro-{n}-A.jpg", next(seed), True)
        _save(root / f"lytro/lytro-{n}-B.jpg", next(seed), True)
    for side in "ABC":
        _save(root / f"lytro/Triple Series/lytro-01-{side}.jpg", next(seed), True)
    (root / "lytro/Readme.txt").write_text("Please cite Nejati et al., Information Fusion 2015.\n")
    return {"msrs": {"00003N", "00004D"}, "m3fd": {"00000", "00001"}, "roadscene": {"FLIR_00006", "FLIR_video_00727"},
            "harvard/CT-MRI": {"2005", "16003"}, "harvard/PET-MRI": {"2005", "16003"},
            "harvard/SPECT-MRI": {"2005", "16003"}, "mef": {"Room", "Lämpchen", "ArchSequence", "Sky"},
            "lytro": {"lytro-01", "lytro-02"}}


def test_verify_reads_every_dataset_of_a_full_release_tree_without_a_problem(tmp_path):
    expected = full_release_tree(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "fusionlab.data", "verify", "--root", str(tmp_path)], cwd=REPO,
                          env=command_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for key, names in expected.items():
        count = "train=2 test=2" if key == "msrs" else str(len(names))
        assert re.search(rf"^{re.escape(key)} +ok +{count} ", proc.stdout, re.M), proc.stdout
    assert "problem" not in proc.stdout, proc.stdout


@pytest.mark.slow
def test_the_readme_evaluate_command_fuses_every_pair_of_a_full_release_tree(tmp_path):
    """The README's zero-shot evaluation of the shipped weights, as typed, on the quirky tree: every expected
    pair is scored by the model and both rules, nothing else is, and each fused image is written under its
    pair's own (non-ASCII) name."""
    data = tmp_path / "data"
    expected = full_release_tree(data)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "fusionlab.evaluate", "pretrained=fusionnet_ivif",
                           "methods=[average,gff]", "eval=zero_shot", f"paths.data_dir={data}",
                           f"hydra.run.dir={run}"], cwd=REPO, env=command_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    scored: dict[tuple[str, str], set[str]] = {}
    with open(run / "results.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("image") not in (None, "", "mean"):
                scored.setdefault((row["method"], row["dataset"]), set()).add(row["image"])
    for method in ("fusionnet_ivif", "average", "gff"):
        for key, names in expected.items():
            assert scored.get((method, key)) == names, (method, key, scored.get((method, key)))
    assert (run / "methods/fusionnet_ivif/fused/mef/Lämpchen.png").is_file()

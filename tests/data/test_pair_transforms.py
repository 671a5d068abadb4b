"""Both sources of a training sample get the same geometry; options shape the crops as documented."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from fusionlab.data.datamodule import collate_samples
from fusionlab.data.sources import BuildRequest, get_source

H, W, P = 40, 52, 16
SPLIT = {"splits": {"roadscene": 0.99}, "val_fraction": 0.0}  # train on every pair of the toy set


def write_pair(root: Path, a: np.ndarray, b: np.ndarray, name: str = "x") -> None:
    for folder, arr in (("cropinfrared", a), ("crop_LR_visible", b)):
        (root / "roadscene" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(root / "roadscene" / folder / f"{name}.png")


def train_set(root: Path, **options):
    return get_source("roadscene").build(BuildRequest(root, "train", P, True, 0, {**SPLIT, **options}))


@pytest.fixture
def texture() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)


def dihedral_views(patch: np.ndarray) -> list[np.ndarray]:
    """The 8 flips/rotations that undo whatever the augmentation did."""
    return [np.rot90(p, k) for p in (patch, patch[::-1]) for k in range(4)]


def locate(patch: np.ndarray, image: np.ndarray) -> tuple[int, int, int] | None:
    """(view, y, x) where a dihedral view of ``patch`` equals a window of ``image``."""
    for v, view in enumerate(dihedral_views(patch)):
        for y in range(image.shape[0] - P + 1):
            for x in range(image.shape[1] - P + 1):
                if np.array_equal(image[y:y + P, x:x + P], view):
                    return v, y, x
    return None


def test_identical_sources_stay_identical_and_are_true_crops(tmp_path, texture):
    write_pair(tmp_path, texture, np.repeat(texture[..., None], 3, axis=2))  # b = a stored as RGB
    ds = train_set(tmp_path)
    placements = set()
    for _ in range(12):
        s = ds[0]
        assert "cbcr_b" not in s  # gray stored as RGB carries no chroma
        assert torch.equal(s["a"], s["b"])
        where = locate(np.round(s["a"][0].numpy() * 255).astype(np.uint8), texture)
        assert where is not None
        placements.add(where)
    views = {v for v, _, _ in placements}
    assert len(placements) > 6 and len(views) > 2  # crops move and flips/rotations happen


def test_colour_source_keeps_its_known_relation_to_the_gray_source(tmp_path, texture):
    b = np.stack([texture, 255 - texture, np.full_like(texture, 128)], axis=2)
    write_pair(tmp_path, texture, b)
    ds = train_set(tmp_path, photometric=False)
    for _ in range(8):
        s = ds[0]
        a = s["a"][0]
        expected = 0.299 * a + 0.587 * (1 - a) + 0.114 * 128 / 255
        assert torch.allclose(s["b"][0], expected, atol=1e-5)
        assert s["cbcr_b"].shape == (2, P, P)


def test_photometric_changes_are_shared_by_both_sources(tmp_path, texture):
    write_pair(tmp_path, texture, texture.copy())
    ds = train_set(tmp_path, photometric=True)
    means = set()
    for _ in range(12):
        s = ds[0]
        assert torch.allclose(s["a"], s["b"], atol=1e-6)
        means.add(round(float(s["a"].mean()), 4))
    assert len(means) > 1


def test_low_contrast_patches_are_rejected(tmp_path):
    img = np.full((H, 4 * W), 120, np.uint8)
    img[:, 3 * W:] = np.random.default_rng(1).integers(0, 256, (H, W))  # only the right quarter has texture
    write_pair(tmp_path, img, img.copy())
    ds = train_set(tmp_path)
    plain = [float(ds[0]["a"].std()) for _ in range(20)]
    assert min(plain) < 0.01  # flat crops happen without rejection
    ds = train_set(tmp_path, min_patch_std=0.05, max_patch_tries=50)
    assert all(float(ds[0]["a"].std()) >= 0.05 for _ in range(20))


def test_workers_draw_different_crops_and_runs_repeat(tmp_path, texture):
    write_pair(tmp_path, texture, texture.copy())

    def run(workers: int) -> list[float]:
        torch.manual_seed(7)
        ds = train_set(tmp_path)
        loader = DataLoader(ds, batch_size=1, sampler=[0] * 8, num_workers=workers, collate_fn=collate_samples)
        return [float(batch["a"].sum()) for batch in loader]

    two = run(2)
    assert two[0::2] != two[1::2]  # the two workers do not replay one stream
    assert run(2) == two and run(0) == run(0)  # seeded: the same run gives the same crops


def test_reseed_replays_a_sample(tmp_path, texture):
    write_pair(tmp_path, texture, texture.copy())
    ds = train_set(tmp_path)
    ds.reseed(5)
    first = ds[0]["a"]
    assert not torch.equal(ds[0]["a"], first) or not torch.equal(ds[0]["a"], first)  # the stream moves on
    ds.reseed(5)
    assert torch.equal(ds[0]["a"], first)

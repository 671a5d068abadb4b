"""The fast PNG decoder is bit-identical to Pillow, and the persistent decoded cache changes no sample."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from fusionlab.data.cache import DecodedCache, resolve_root
from fusionlab.data.datasets import PairedImageDataset
from fusionlab.data.io import read_image, read_native
from fusionlab.data.pairing import Pair
from fusionlab.data.transforms import RealOptions

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (19, 23, 3), dtype=np.uint8)


def _pil_reference(path) -> np.ndarray:
    """What Pillow alone decodes (the reader before the OpenCV fast path), as float32 in [0, 1]."""
    with Image.open(path) as img:
        if img.mode.startswith("I;16"):
            return (np.asarray(img).astype(np.float64) / 65535.0).astype(np.float32)
        if img.mode in ("L", "LA", "1"):
            return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


@pytest.mark.parametrize("kind", ["rgb", "gray", "rgba", "palette", "gray_alpha", "gray_trns", "rgb_trns", "gamma",
                                  "gray16", "bilevel"])
def test_png_fast_path_matches_pillow(tmp_path, kind):
    path, gray = tmp_path / f"{kind}.png", RGB[..., 1]
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", (45455).to_bytes(4, "big"))
    save = {
        "rgb": lambda: Image.fromarray(RGB).save(path),
        "gray": lambda: Image.fromarray(gray).save(path),
        "rgba": lambda: Image.fromarray(np.dstack([RGB, gray])).save(path),
        "palette": lambda: Image.fromarray(RGB).convert("P").save(path),
        "gray_alpha": lambda: Image.fromarray(gray).convert("LA").save(path),
        "gray_trns": lambda: Image.fromarray(gray).save(path, transparency=5),
        "rgb_trns": lambda: Image.fromarray(RGB).save(path, transparency=(1, 2, 3)),
        "gamma": lambda: Image.fromarray(RGB).save(path, pnginfo=info),
        "gray16": lambda: Image.fromarray(gray.astype(np.uint16) * 257).save(path),
        "bilevel": lambda: Image.fromarray(gray > 128).save(path),
    }
    save[kind]()
    out, ref = read_image(path), _pil_reference(path)
    assert out.dtype == np.float32 and out.shape == ref.shape and np.array_equal(out, ref)
    arr, peak = read_native(path)
    assert np.array_equal((arr.astype(np.float64) / peak).astype(np.float32), ref)


def test_cache_stores_large_images_once_and_follows_file_changes(tmp_path):
    img_path = tmp_path / "big.png"
    Image.fromarray(RNG.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(img_path)
    cache, calls = DecodedCache(tmp_path / "cache"), []

    def decode(p):
        calls.append(p)
        return read_native(p)[0]

    first = cache.get(img_path, decode)
    second = cache.get(img_path, decode)
    assert isinstance(second, np.memmap) and np.array_equal(first, second) and len(calls) == 1
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save(img_path)
    os.utime(img_path, ns=(1, 1))  # a replaced file has a new mtime
    assert cache.get(img_path, decode).max() == 0 and len(calls) == 2
    small = tmp_path / "small.png"
    Image.fromarray(RGB).save(small)
    cache.get(small, decode)
    assert not isinstance(cache.get(small, decode), np.memmap)  # small images are not worth a file
    ro = DecodedCache(tmp_path / "file-not-dir" / "x")
    (tmp_path / "file-not-dir").write_text("")
    assert ro.get(img_path, decode).shape == (300, 300, 3)  # an unwritable cache costs speed, not the run


def test_disk_cache_changes_no_training_sample(tmp_path):
    files = []
    for name, img in (("a", RNG.integers(0, 256, (320, 300), dtype=np.uint8)),
                      ("b", RNG.integers(0, 256, (320, 300, 3), dtype=np.uint8))):
        files.append(tmp_path / f"{name}.png")
        Image.fromarray(img).save(files[-1])
    pair = Pair(name="p", a=files[0], b=files[1], size=(320, 300))
    samples = []
    for setting in ("", str(tmp_path / "cache"), str(tmp_path / "cache")):  # off, first use, reuse
        ds = PairedImageDataset([pair], key="x", task="ivif", patch_size=32, augment=True,
                                opts=RealOptions(disk_cache=setting))
        ds.reseed(1)
        samples.append([ds[0] for _ in range(4)])
    assert isinstance(ds._load(files[1]), np.memmap)
    for other in samples[1:]:
        for s, t in zip(samples[0], other, strict=True):
            assert all(torch.equal(s[k], t[k]) for k in ("a", "b", "cbcr_b"))
    assert resolve_root("") is None and resolve_root("auto").name == "decoded"


def test_fill_decodes_each_image_once(tmp_path):
    from fusionlab.data.cache import fill

    img_path = tmp_path / "big.png"
    Image.fromarray(RNG.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(img_path)
    assert fill([img_path, img_path], tmp_path / "cache", jobs=1) == (0, 1)
    assert fill([img_path], tmp_path / "cache", jobs=1) == (1, 0)

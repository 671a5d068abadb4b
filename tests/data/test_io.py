"""Image reading keeps what is in the file: 16-bit colour at full precision, JPEG-in-PNG by content."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusionlab.data.io import read_image


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_colour_keeps_full_precision(tmp_path, suffix):
    rgb = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 1000 + 7).astype(np.uint16)
    path = tmp_path / f"x{suffix}"
    cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes BGR
    out = read_image(path)
    assert out.shape == (4, 5, 3)
    assert np.abs(out * 65535.0 - rgb).max() < 0.5  # not just the high byte


def test_8bit_colour_png_unchanged(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    assert np.array_equal(np.round(read_image(path) * 255).astype(np.uint8), rgb)


def test_background_writer_writes_what_write_image_writes(tmp_path) -> None:
    """Queued images come out byte-identical to inline writes; a failed write raises, naming the file."""
    from fusionlab.data.io import BackgroundWriter, read_native, write_image

    rng = np.random.default_rng(0)
    images = [rng.random((24, 32, 3)).astype(np.float32) for _ in range(5)]
    writer = BackgroundWriter(max_pending=2)
    for i, img in enumerate(images):
        writer.submit(tmp_path / "bg" / f"{i}.png", img, compress_level=1)
        write_image(tmp_path / "inline" / f"{i}.png", img, compress_level=1)
    writer.close()
    for i in range(len(images)):
        assert (tmp_path / "bg" / f"{i}.png").read_bytes() == (tmp_path / "inline" / f"{i}.png").read_bytes()
        assert read_native(tmp_path / "bg" / f"{i}.png")[0].shape == (24, 32, 3)

    (tmp_path / "blocker").write_text("a file where a folder should be")
    writer.submit(tmp_path / "blocker" / "x.png", images[0])
    with pytest.raises(OSError, match=r"could not write image .*blocker/x\.png"):
        writer.drain()
    writer.close()

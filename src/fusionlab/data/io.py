"""Reading and writing images: decode by content (a ``.png`` that holds JPEG still loads), 8- or 16-bit.

Every reader error names the file, so a bad image in a folder of hundreds is found at once.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_image(path: str | Path) -> np.ndarray:
    """Return float32 in [0, 1], shape (H, W) for gray or (H, W, 3) for colour; alpha is dropped."""
    arr, peak = read_native(path)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return (arr.astype(np.float64) / peak).astype(np.float32)
    return arr


def read_native(path: str | Path) -> tuple[np.ndarray, float]:
    """The image at its stored depth, ``(array, peak)``: uint8 (peak 255) or uint16 (peak 65535), or float32
    already in [0, 1] (peak 1) for float and 32-bit integer files; gray (H, W) or RGB (H, W, 3), no alpha.

    ``read_image(p) == read_native(p)[0] / peak`` as float32. 8/16-bit gray, RGB and RGBA PNGs (the datasets'
    files) decode with OpenCV's libpng, ~20% faster than Pillow and bit-identical; other files use Pillow."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    fast = _read_png_cv2(path)
    if fast is not None:
        return fast
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode.startswith("I;16"):
                return np.asarray(img).astype(np.uint16), 65535.0
            if mode == "I":
                arr = np.asarray(img, dtype=np.float64)
                peak = 65535.0 if arr.max() > 255 else 255.0
                return (arr / peak).astype(np.float32), 1.0
            if mode == "F":
                return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0), 1.0
            if mode in ("L", "1", "LA"):
                return np.asarray(img.convert("L"), dtype=np.uint8), 255.0
            if _is_16bit_colour(img, path):
                return _read_16bit_colour(path), 65535.0
            return np.asarray(img.convert("RGB"), dtype=np.uint8), 255.0
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot decode image {path}: {err}. Re-download or remove the file.") from err


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 6: 4}  # IHDR colour type -> channels OpenCV returns (gray, RGB, RGBA)


def _read_png_cv2(path: Path) -> tuple[np.ndarray, float] | None:
    """OpenCV decode of a plain 8/16-bit gray/RGB/RGBA PNG; None (-> Pillow) for anything else or any doubt
    (palette, gray+alpha, sub-byte depths, a transparency chunk that changes the channels, a corrupt file:
    Pillow then names the error)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 33 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    depth, colour = data[24], data[25]
    if depth not in (8, 16) or colour not in _PNG_CHANNELS:
        return None
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    want = np.uint8 if depth == 8 else np.uint16
    channels = _PNG_CHANNELS[colour]
    if arr is None or arr.dtype != want or (arr.shape[2] if arr.ndim == 3 else 1) != channels:
        return None
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if channels == 4 else cv2.COLOR_BGR2RGB)
    return arr, 255.0 if depth == 8 else 65535.0


def _is_16bit_colour(img: Image.Image, path: Path) -> bool:
    """Pillow opens 16-bit RGB(A) PNG/TIFF as 8-bit (it keeps the high byte); detect them from the header."""
    if img.format == "PNG":
        with open(path, "rb") as fh:
            header = fh.read(25)
        return len(header) == 25 and header[12:16] == b"IHDR" and header[24] == 16  # IHDR bit depth
    if img.format == "TIFF":
        bits = img.tag_v2.get(258)
        return bool(bits) and max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _read_16bit_colour(path: Path) -> np.ndarray:
    """Full-precision decode of a 16-bit colour image with OpenCV (BGR order on disk -> RGB), as uint16."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise ValueError("OpenCV could not decode it as 16-bit colour")
    return cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB)


def luma_u8(img: np.ndarray) -> np.ndarray:
    """The metric-input convention: BT.601 luma on 0..255, rounded half-to-even like ``numpy.round``.

    ``img`` is float in [0, 1] as returned by :func:`read_image`; gray images are scaled and rounded.
    """
    # Recover the integer levels first so that .5 ties of the luma round exactly as on the 8-bit file.
    x = np.round(img.astype(np.float64) * 255.0)
    if x.ndim == 3:
        x = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    return np.round(x)


def write_image(path: str | Path, img: np.ndarray, compress_level: int | None = None) -> None:
    """Write float [0, 1] (H, W) or (H, W, 3) as an 8-bit PNG/JPEG, creating folders as needed.

    ``compress_level`` (PNG, 0-9): 1 encodes ~4x faster than PIL's default 6 for slightly larger files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.clip(np.round(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    opts = {"compress_level": compress_level} if compress_level is not None and path.suffix.lower() == ".png" else {}
    Image.fromarray(arr).save(path, **opts)


class BackgroundWriter:
    """Writes images in one background thread while the caller goes on fusing and scoring.

    Why: PNG encoding (~25 ms for 640x480 at level 1) runs on one core and releases the GIL, so done inline it
    leaves the other core idle. At most ``max_pending`` images wait (bounded memory); a failed write raises in
    the caller at the next :meth:`submit` or at :meth:`drain`, naming the file.
    """

    def __init__(self, max_pending: int = 8) -> None:
        self.max_pending = max_pending
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Path, Future]] = deque()

    def submit(self, path: str | Path, img: np.ndarray, compress_level: int | None = None) -> None:
        """Queue ``write_image(path, img, compress_level)``; ``img`` must not be modified afterwards."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="fusionlab-write")
        self._pending.append((Path(path), self._pool.submit(write_image, path, img, compress_level)))
        self._wait(self.max_pending)

    def drain(self) -> None:
        """Wait until every queued image is written."""
        self._wait(0)

    def close(self) -> None:
        """Drain, then stop the thread (a later :meth:`submit` starts a new one)."""
        try:
            self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _wait(self, keep: int) -> None:
        while len(self._pending) > keep:
            path, future = self._pending.popleft()
            try:
                future.result()
            except Exception as err:
                self._pending.clear()
                raise OSError(f"could not write image {path}: {err}") from err

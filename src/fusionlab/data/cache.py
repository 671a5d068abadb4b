"""A persistent cache of decoded training images: one ``.npy`` per image file, read back memory-mapped.

Decoding a 1024x768 PNG costs ~30 ms; reading a 64x64 patch out of a memory-mapped ``.npy`` costs ~0.2 ms.
A training run draws many patches per image, from several loader workers (and DDP ranks), and later runs
read the same files again: with this cache each image is decoded once per machine instead of once per
worker per run, and the decoded pixels live once in the OS page cache instead of once per worker.

Entries are keyed by the file's absolute path, modification time and size (an edited or replaced image is
decoded again), written to a temporary name and renamed into place (concurrent workers never read a half
written entry). Only images of at least ``min_bytes`` decoded are cached: small images decode quickly.
The folder (``data.options.real.disk_cache``; default ``$FUSIONLAB_CACHE`` or ``~/.cache/fusionlab``, under
``decoded/``) can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

VERSION = "1"  # bump when what is stored for a file changes (decoding, gray collapse)


def default_root() -> Path:
    """``$FUSIONLAB_CACHE``, else ``$XDG_CACHE_HOME/fusionlab``, else ``~/.cache/fusionlab``."""
    env = os.environ.get("FUSIONLAB_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fusionlab"


def resolve_root(setting: str | None) -> Path | None:
    """``data.options.real.disk_cache``: ``auto`` -> :func:`default_root`, ``''``/``none``/``off`` -> off."""
    if setting is None or str(setting).strip().lower() in ("", "none", "null", "off", "false"):
        return None
    root = default_root() if str(setting) == "auto" else Path(setting).expanduser()
    return root / "decoded"


class DecodedCache:
    """``get(path, decode)``: the decoded image of ``path`` as a read-only memory map, decoding (with
    ``decode``) and storing it on the first call; images under ``min_bytes`` are decoded and returned as is."""

    def __init__(self, root: Path, min_bytes: int = 256 * 1024) -> None:
        self.root, self.min_bytes = Path(root), min_bytes
        self.hits = self.misses = 0

    def entry(self, path: Path) -> Path:
        path = Path(path).resolve()
        st = path.stat()
        key = hashlib.sha1(f"{VERSION}|{path}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()
        return self.root / key[:2] / f"{key}.npy"

    def get(self, path: Path, decode: Callable[[Path], np.ndarray]) -> np.ndarray:
        entry = self.entry(path)
        try:
            arr = np.load(entry, mmap_mode="r")
            self.hits += 1
            return arr
        except (OSError, ValueError, EOFError):  # missing (the common case) or unreadable: decode again
            pass
        img = decode(path)
        self.misses += 1
        if img.nbytes >= self.min_bytes:
            self._store(entry, img)
        return img

    def _store(self, entry: Path, img: np.ndarray) -> None:
        """Atomic write; a full or read-only disk only costs the speed-up, never the run."""
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(img))
                os.replace(tmp, entry)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass


def _fill_one(job: tuple[str, str]) -> bool:
    from fusionlab.data.datasets import decode_train  # the decoding a training sample uses

    path, root = job
    return isinstance(DecodedCache(Path(root)).get(Path(path), decode_train), np.memmap)


def fill(files: list[Path], root: Path, jobs: int = 0) -> tuple[int, int]:
    """Decode ``files`` into the cache at ``root`` with ``jobs`` processes (0: one per CPU), so that the first
    epoch of a run reads memory maps too; returns (already cached, newly decoded or too small to cache)."""
    from multiprocessing import get_context

    todo = [(str(f), str(root)) for f in dict.fromkeys(files)]
    with get_context("fork").Pool(jobs or os.cpu_count() or 1) as pool:
        hits = sum(pool.imap_unordered(_fill_one, todo, chunksize=4))
    return hits, len(todo) - hits

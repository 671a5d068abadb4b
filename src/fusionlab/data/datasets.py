"""The real datasets: one spec per dataset (or group), their splits, and the paired-image Dataset.

Importing this module registers the specs (``fusionlab.data.sources`` imports it on first lookup):

========================  ====  =========================================  ==========================
key                       task  a / b                                      splits
========================  ====  =========================================  ==========================
``msrs``                  ivif  ``{train,test}/ir`` / ``{train,test}/vi``  official train/test; val =
                                                                           seeded slice of train
``m3fd``                  ivif  ``M3FD_Fusion/Ir`` / ``M3FD_Fusion/Vis``   test-only by default
``roadscene``             ivif  ``cropinfrared`` / ``crop_LR_visible``     test-only by default
``harvard/CT-MRI`` (etc.)  mif   ``<G>/MRI`` / ``<G>/{CT,PET,SPECT}``       test-only by default
``harvard``               mif   the three groups together                  test-only by default
``mef``                   mef   ``input/<S>/<S>_A`` / ``<S>_B``            test-only by default
``lytro``                 mff   ``lytro-NN-A`` / ``lytro-NN-B``            test-only by default
``lytro/triple``          mff   ``Triple Series/lytro-NN-A`` / ``-B``      test-only by default
========================  ====  =========================================  ==========================

Test-only datasets train only when ``data.options.real.splits`` names them (a seeded fraction or a split
file; see :func:`select_split`). The Lytro Triple Series is served as its A-B pairs (comparable with
the other MFF numbers); ``PairedImageDataset.load_sources`` returns all of A, B, C for sequential fusion.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from fusionlab.color import rgb_to_ycbcr
from fusionlab.data.cache import DecodedCache, resolve_root
from fusionlab.data.io import read_image, read_native
from fusionlab.data.pairing import (
    DatasetError,
    Pair,
    Problem,
    pair_by_stem,
    pair_by_suffix_letter,
    pair_mef_scenes,
    probe_pairs,
    settle,
)
from fusionlab.data.sources import BuildRequest, SourceSpec, register
from fusionlab.data.splits import select_split
from fusionlab.data.transforms import PairAugment, RealOptions

_GRAY_TOL = 1.5 / 255.0  # gray-stored-as-RGB (M3FD IR): channels within one level of each other
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Discover = Callable[[Path], tuple[dict[str, list[Pair]], list[Problem]]]


class PairedImageDataset(Dataset):
    """Batch-contract samples from registered image pairs (see DESIGN §2).

    Evaluation (``patch_size=None``): full images of any size. Training: one random crop shared by both
    sources, plus flips/rot90 (and optional shared photometric changes) when ``augment``. A colour
    source yields its luminance in ``a``/``b`` and its chroma in ``cbcr_a``/``cbcr_b``; a gray image,
    including gray stored as RGB, yields no chroma.
    """

    def __init__(self, pairs: Sequence[Pair], *, key: str, task: str, patch_size: int | None = None,
                 augment: bool = False, opts: RealOptions | None = None, seed: int = 0,
                 skipped: int = 0) -> None:
        self.pairs = list(pairs)
        self.key, self.task, self.patch_size, self.seed = key, task, patch_size, seed
        self.opts = opts or RealOptions()
        self.skipped = skipped  # pairs dropped at build time (on_bad_pair=skip / small_images=skip)
        self.skipped_at_load = 0  # training samples replaced because their image failed to decode
        self.augment = PairAugment(patch_size, augment, self.opts) if patch_size else None
        self._cache: dict[Path, np.ndarray] = {}
        self._cache_bytes = 0
        root = resolve_root(self.opts.disk_cache) if patch_size else None
        self._disk = DecodedCache(root) if root is not None else None
        self._rng_seed: int | None = None
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict:
        """Spawned workers get the dataset without the main process's image cache (up to cache_mb)."""
        state = dict(self.__dict__)
        state["_cache"], state["_cache_bytes"] = {}, 0
        return state

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.pairs]

    # -- decoding --------------------------------------------------------------------------------
    def _load(self, path: Path) -> np.ndarray:
        """(H, W) or (H, W, 3) image; gray stored as RGB collapses to one channel. Training images are
        uint8 when the file is 8-bit, kept per process within ``cache_mb`` and, with ``disk_cache``, decoded
        once into a memory-mapped ``.npy`` shared by workers and runs (``fusionlab.data.cache``)."""
        hit = self._cache.get(path)
        if hit is not None:
            return hit
        if not self.patch_size:  # evaluation: full images in float, exactly as read_image decodes them
            img = read_image(path)
            return img @ _LUMA if img.ndim == 3 and _is_gray(img) else img
        img = self._disk.get(path, decode_train) if self._disk is not None else decode_train(path)
        if self.opts.cache_mb > 0:
            nbytes = 0 if isinstance(img, np.memmap) else img.nbytes  # a memory map lives in the page cache
            if self._cache_bytes + nbytes <= self.opts.cache_mb * 2**20:
                self._cache[path] = img
                self._cache_bytes += nbytes
        return img

    def reseed(self, seed: int) -> None:
        """Restart the augmentation streams from ``seed`` (mixed with the run seed); the DataModule's
        per-sample seeding (``fusionlab.data.sampling.SeededSamples``) calls this before each item."""
        mixed = int(np.random.SeedSequence([self.seed, int(seed) % 2**63]).generate_state(1)[0])
        self._rng = np.random.default_rng(mixed)
        if self.augment is not None:
            self.augment.reseed(mixed)
        self._rng_seed = torch.initial_seed()

    def _reseed_if_new_process(self) -> None:
        """Distinct augmentation streams per DataLoader worker (each worker has its own torch seed)."""
        worker_seed = torch.initial_seed()
        if worker_seed != self._rng_seed:
            self.reseed(worker_seed)

    # -- samples ---------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict:
        if self.augment is None:
            return self._sample(self.pairs[index])
        self._reseed_if_new_process()
        for _ in range(10):
            try:
                return self._sample(self.pairs[index])
            except ValueError as err:  # read_image names the file that failed to decode
                if self.opts.on_bad_pair != "skip":
                    raise
                self.skipped_at_load += 1
                warnings.warn(f"{self.key}: {err}; using another pair instead (on_bad_pair=skip, "
                              f"{self.skipped_at_load} replaced so far)", stacklevel=2)
                index = int(self._rng.integers(len(self.pairs)))
        raise DatasetError(f"{self.key}: too many unreadable images in a row; run `python -m fusionlab.data verify`")

    def _sample(self, pair: Pair) -> dict:
        a, b = self._load(pair.a), self._load(pair.b)
        if a.shape[:2] != b.shape[:2]:  # headers agreed, pixels must too; never crop two sizes
            raise DatasetError(f"{self.key}: size mismatch inside pair {pair.name}: {pair.a} is {a.shape[:2]}, "
                               f"{pair.b} is {b.shape[:2]} (H, W)")
        if self.augment is not None:
            a, b = self.augment(a, b)
        ya, ca = _split_color(a)
        yb, cb = _split_color(b)
        sample: dict = {"a": ya, "b": yb, "name": pair.name, "task": self.task, "dataset": self.key}
        if ca is not None:
            sample["cbcr_a"] = ca
        if cb is not None:
            sample["cbcr_b"] = cb
        return sample

    def load_sources(self, index: int) -> list[tuple[Tensor, Tensor | None]]:
        """All sources of sample ``index`` at full size as (luminance, chroma or None), including the
        further sources of an N-source series (Lytro Triple Series: A, B, C) for sequential fusion."""
        return [_split_color(self._load(f)) for f in self.pairs[index].files]


def decode_train(path: Path) -> np.ndarray:
    """A training image, decoded once: uint8 for 8-bit files (float32 otherwise), gray-as-RGB collapsed to
    its luma; the same values as ``read_image`` + luma, without full-image float work for 8-bit files."""
    arr, peak = read_native(path)
    if arr.dtype == np.uint8:
        if arr.ndim == 2:
            return arr
        c0, c1, c2 = arr[..., 0], arr[..., 1], arr[..., 2]
        if np.array_equal(c0, c1) and np.array_equal(c1, c2):  # M3FD IR: 3 equal channels -> exact
            return np.ascontiguousarray(c0)
        if max(np.abs(c0.astype(np.int16) - c1).max(), np.abs(c1.astype(np.int16) - c2).max()) > 1:  # colour
            return arr
        img = arr.astype(np.float32) / 255.0
    else:
        img = (arr.astype(np.float64) / peak).astype(np.float32) if arr.dtype == np.uint16 else arr
    if img.ndim == 3 and _is_gray(img):
        img = img @ _LUMA
    levels = np.round(scaled := img * 255.0)
    if np.abs(scaled - levels).max() < 1e-3:  # 8-bit levels after all: store 4x smaller, exactly
        return levels.astype(np.uint8)
    return img


def _is_gray(img: np.ndarray) -> bool:
    return bool(np.abs(img[..., 0] - img[..., 1]).max() <= _GRAY_TOL
                and np.abs(img[..., 1] - img[..., 2]).max() <= _GRAY_TOL)


def _split_color(x: np.ndarray) -> tuple[Tensor, Tensor | None]:
    """(1, H, W) luminance and (2, H, W) chroma (None for gray) as float32 tensors in [0, 1]."""
    x = np.ascontiguousarray(x) if x.flags.writeable else np.array(x)  # crops of a read-only memory map
    t = torch.from_numpy(x).float()
    if x.dtype == np.uint8:
        t = t / 255.0
    if t.ndim == 2:
        return t.unsqueeze(0), None
    ycc = rgb_to_ycbcr(t.permute(2, 0, 1))
    return ycc[:1].contiguous(), ycc[1:].contiguous()


# -- the specs ------------------------------------------------------------------------------------
def build_real(key: str, task: str, root: str, discover: Discover, req: BuildRequest) -> PairedImageDataset:
    """Discover, split, check and wrap one dataset for ``req`` (the ``build`` of every real spec)."""
    if req.data_dir is None:
        raise DatasetError(f"{key} needs paths.data_dir (or FUSIONLAB_DATA) to point at the data folder")
    opts = RealOptions.from_dict(req.options)
    root_dir = Path(req.data_dir) / root
    found, problems = discover(root_dir)
    skipped = settle(problems, opts.on_bad_pair, key)
    pairs = select_split(key, root, found, req.split, opts, root_dir)
    pairs, problems = probe_pairs(pairs, decode=opts.verify == "full")
    skipped += settle(problems, opts.on_bad_pair, key)
    if req.patch_size and opts.small_images != "pad":
        p = req.patch_size
        small = [Problem(p_.name, f"{p_.a} is {p_.size[1]}x{p_.size[0]}, smaller than the training patch {p}x{p}: "
                         "lower data.patch_size or set data.options.real.small_images=pad|skip")
                 for p_ in pairs if p_.size and min(p_.size) < p]
        skipped += settle(small, "skip" if opts.small_images == "skip" else "error", key)
        pairs = [q for q in pairs if not (q.size and min(q.size) < p)]
    return PairedImageDataset(pairs, key=key, task=task, patch_size=req.patch_size, augment=req.augment,
                              opts=opts, seed=req.seed, skipped=skipped)


def _discover_msrs(root: Path) -> tuple[dict[str, list[Pair]], list[Problem]]:
    found, problems = {}, []
    for split in ("train", "test"):
        found[split], probs = pair_by_stem(root / split / "ir", root / split / "vi")
        problems += probs
    return found, problems


def _flat(fn: Callable[[Path], tuple[list[Pair], list[Problem]]]) -> Discover:
    def discover(root: Path) -> tuple[dict[str, list[Pair]], list[Problem]]:
        pairs, problems = fn(root)
        return {"all": pairs}, problems
    return discover


HARVARD_GROUPS = {"CT-MRI": "CT", "PET-MRI": "PET", "SPECT-MRI": "SPECT"}


def _harvard(groups: Sequence[str], prefix: bool) -> Discover:
    def pairs(root: Path) -> tuple[list[Pair], list[Problem]]:
        out, problems = [], []
        for g in groups:
            found, probs = pair_by_stem(root / g / "MRI", root / g / HARVARD_GROUPS[g], f"{g}_" if prefix else "")
            out += found
            problems += probs
        return out, problems
    return _flat(pairs)


# key -> (task, root, discover, display name, description)
REAL_DATASETS: dict[str, tuple[str, str, Discover, str, str]] = {
    "msrs": ("ivif", "msrs", _discover_msrs, "MSRS",
             "aligned IR/visible road scenes, 640x480; official train/test"),
    "m3fd": ("ivif", "m3fd", _flat(lambda r: pair_by_stem(r / "M3FD_Fusion" / "Ir", r / "M3FD_Fusion" / "Vis")),
             "M3FD", "M3FD_Fusion IR/visible pairs, mostly 1024x768; IR stored as 3 equal channels"),
    "roadscene": ("ivif", "roadscene", _flat(lambda r: pair_by_stem(r / "cropinfrared", r / "crop_LR_visible")),
                  "RoadScene", "FLIR-derived IR/visible JPEG pairs, sizes vary per pair"),
    **{f"harvard/{g}": ("mif", "harvard", _harvard([g], prefix=False), f"Harvard {g}",
                        f"AANLIB {g} slices, 256x256; a = MRI, b = {m}")
       for g, m in HARVARD_GROUPS.items()},
    "harvard": ("mif", "harvard", _harvard(list(HARVARD_GROUPS), prefix=True), "Harvard (all groups)",
                "CT-MRI, PET-MRI and SPECT-MRI together; names are <group>_<n>"),
    "mef": ("mef", "mef", _flat(lambda r: pair_mef_scenes(r / "input")), "MEFB",
            "MEFB scenes; a = under-exposed <Scene>_A, b = over-exposed <Scene>_B"),
    "lytro": ("mff", "lytro", _flat(lambda r: pair_by_suffix_letter(r, "AB")), "Lytro",
              "Lytro multi-focus pairs, 520x520; a = -A, b = -B"),
    "lytro/triple": ("mff", "lytro", _flat(lambda r: pair_by_suffix_letter(r / "Triple Series", "ABC")),
                     "Lytro Triple Series", "three-source series served as A-B pairs (C via load_sources)"),
}


def _make_build(key: str) -> Callable[[BuildRequest], PairedImageDataset]:
    task, root, discover, _, _ = REAL_DATASETS[key]

    def build(req: BuildRequest) -> PairedImageDataset:
        return build_real(key, task, root, discover, req)
    return build


def discover(key: str, data_dir: str | os.PathLike) -> tuple[dict[str, list[Pair]], list[Problem]]:
    """The pairs of ``key`` under ``data_dir`` by official split (``train``/``test`` or ``all``) + problems."""
    _, root, fn, _, _ = REAL_DATASETS[key]
    return fn(Path(data_dir) / root)


for _key, (_task, _root, _, _display, _desc) in REAL_DATASETS.items():
    register(SourceSpec(key=_key, task=_task, build=_make_build(_key), root=_root, display_name=_display,
                        description=_desc))

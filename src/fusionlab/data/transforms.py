"""Options of the real datasets and the paired training transform.

The two sources of a pair must see *the same* geometry (crop, flip, rot90), or the model learns to fuse
misaligned images. albumentations applies one draw of parameters to every target registered through
``additional_targets``, which is exactly that guarantee. Photometric changes are opt-in and also shared
by both sources (one gamma, one brightness/contrast draw), so relations such as "the under-exposed MEF
source is darker" survive augmentation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any

import albumentations as A
import cv2
import numpy as np

from fusionlab.data.pairing import DatasetError

BAD_PAIR_POLICIES = ("error", "skip")
SMALL_IMAGE_POLICIES = ("error", "pad", "skip")
VERIFY_LEVELS = ("header", "full")


@dataclass(frozen=True)
class RealOptions:
    """``data.options.real``: one dict shared by every real source of a run (see data/README.md)."""

    on_bad_pair: str = "error"  # error | skip (warning + count)
    small_images: str = "error"  # images smaller than patch_size: error | pad (reflect) | skip
    verify: str = "header"  # header: sizes/readability at build time; full: also decode every image
    min_patch_std: float = 0.0  # reject crops whose sources are both flatter than this (0 = off)
    max_patch_tries: int = 10  # crops drawn before accepting a low-contrast one
    flip: bool = True  # horizontal + vertical flips (when augment is on)
    rot90: bool = True  # random multiples of 90 degrees (when augment is on)
    photometric: bool = False  # shared random gamma + brightness/contrast on both sources
    val_fraction: float = 0.1  # held-out slice of the training pairs used for validation
    split_seed: int = 0  # seeds the held-out slices; independent of the run seed on purpose
    splits: dict[str, Any] = field(default_factory=dict)  # {key-or-root: fraction | split.json}
    cache_mb: int = 1024  # per-process cache of decoded training images (0 = off)
    disk_cache: str = "auto"  # decoded training images as memory-mapped .npy: auto | <folder> | '' (off)

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> RealOptions:
        """Validate ``options``; an unknown key is an error listing the known ones (typos fail loudly)."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise DatasetError(f"unknown data.options.real key(s) {unknown}; known: {', '.join(sorted(known))}")
        # Hydra may hand over DictConfig mappings; plain containers pickle cleanly to loader workers.
        options["splits"] = {str(k): v for k, v in dict(options.get("splits") or {}).items()}
        opts = cls(**options)
        for name, allowed in (("on_bad_pair", BAD_PAIR_POLICIES), ("small_images", SMALL_IMAGE_POLICIES),
                              ("verify", VERIFY_LEVELS)):
            if getattr(opts, name) not in allowed:
                raise DatasetError(f"data.options.real.{name} must be one of {allowed}, got {getattr(opts, name)!r}")
        if not 0.0 <= opts.val_fraction < 1.0:
            raise DatasetError(f"data.options.real.val_fraction must be in [0, 1), got {opts.val_fraction}")
        if opts.min_patch_std < 0 or opts.max_patch_tries < 1 or opts.cache_mb < 0:
            raise DatasetError("data.options.real: min_patch_std and cache_mb must be >= 0, max_patch_tries >= 1")
        return opts


class PairAugment:
    """Random crop (+ flips, rot90, shared photometric) applied identically to both sources of a pair."""

    def __init__(self, patch_size: int, augment: bool, opts: RealOptions) -> None:
        geo: list[Any] = []
        if opts.small_images == "pad":
            geo.append(A.PadIfNeeded(min_height=patch_size, min_width=patch_size,
                                     border_mode=cv2.BORDER_REFLECT_101, p=1.0))
        geo.append(A.RandomCrop(patch_size, patch_size, p=1.0))
        if augment and opts.flip:
            geo += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
        if augment and opts.rot90:
            geo.append(A.RandomRotate90(p=1.0))
        self.geometric = A.Compose(geo, additional_targets={"image_b": "image"})
        self.photometric = None
        if augment and opts.photometric:
            self.photometric = A.Compose(
                [A.RandomGamma(gamma_limit=(80, 125), p=0.5),
                 A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5)],
                additional_targets={"image_b": "image"},
            )
        self.min_std, self.tries = opts.min_patch_std, opts.max_patch_tries
        self.reseed(0)

    def reseed(self, seed: int) -> None:
        """One generator shared by all transforms (albumentations' own per-transform seeding would give
        every transform the same stream); called once per worker process with a distinct seed."""
        for comp in (self.geometric, self.photometric):
            if comp is not None:
                comp.set_random_state(np.random.default_rng(seed), random.Random(seed))

    def __call__(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(self.tries):
            out = self.geometric(image=a, image_b=b)
            pa, pb = out["image"], out["image_b"]
            if self.min_std <= 0 or max(_std01(pa), _std01(pb)) >= self.min_std:
                break
        if self.photometric is not None:
            out = self.photometric(image=pa, image_b=pb)
            pa, pb = out["image"], out["image_b"]
        return pa, pb


def _std01(x: np.ndarray) -> float:
    """Standard deviation on the [0, 1] scale whatever the dtype (cached images are uint8)."""
    s = float(x.std())
    return s / 255.0 if x.dtype == np.uint8 else s

"""Wavelet-domain fusion with our own multi-level orthonormal Haar DWT (Li, Manjunath, Mitra 1995 style).

Approximation coefficients are averaged and each detail coefficient takes the source with the larger
magnitude. Odd sizes are replicate-padded to even at each level and cropped back on reconstruction, so any
H x W works and the transform is exactly invertible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.baselines.base import ClassicalFusion


def haar_dwt(x: Tensor) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """One level: (LL, stacked (LH, HL, HH) on dim 1, original size)."""
    h, w = x.shape[-2:]
    x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    p, q = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    r, s = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    ll = (p + q + r + s) / 2
    details = torch.cat([(p - q + r - s) / 2, (p + q - r - s) / 2, (p - q - r + s) / 2], dim=1)
    return ll, details, (h, w)


def haar_idwt(ll: Tensor, details: Tensor, size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`haar_dwt` (the transform is orthonormal, so this is its transpose)."""
    c = ll.shape[1]
    lh, hl, hh = details[:, :c], details[:, c : 2 * c], details[:, 2 * c :]
    bsz, _, h2, w2 = ll.shape
    out = ll.new_empty(bsz, c, 2 * h2, 2 * w2)
    out[..., 0::2, 0::2] = (ll + lh + hl + hh) / 2
    out[..., 0::2, 1::2] = (ll - lh + hl - hh) / 2
    out[..., 1::2, 0::2] = (ll + lh - hl - hh) / 2
    out[..., 1::2, 1::2] = (ll - lh - hl + hh) / 2
    return out[..., : size[0], : size[1]]


class WaveletFusion(ClassicalFusion):
    """Haar DWT fusion: mean of the approximations, max-abs details, ``levels`` capped by image size."""

    name = "wavelet"

    def __init__(self, levels: int = 3, min_size: int = 8) -> None:
        super().__init__()
        self.levels = levels
        self.min_size = min_size

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        stack = []
        la, lb = a, b
        for _ in range(self.levels):
            if min(la.shape[-2:]) < 2 * self.min_size:
                break
            la, da, size = haar_dwt(la)
            lb, db, _ = haar_dwt(lb)
            stack.append((torch.where(da.abs() >= db.abs(), da, db), size))
        x = (la + lb) / 2
        for details, size in reversed(stack):
            x = haar_idwt(x, details, size)
        return x

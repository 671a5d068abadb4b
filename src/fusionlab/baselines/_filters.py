"""Filters the multi-scale baselines share: an O(1)-per-pixel box mean and separable/3x3 filtering.

All work on any image size (box windows are clipped at the border and means use the pixels actually
covered, as in He's guided-filter code), so the baselines never need padding to a multiple. Filtering is a
sum of shifted slices: in float64 on CPU that is several times faster than ``conv2d``'s im2col path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _box_sum_1d(x: Tensor, r: int, dim: int) -> Tensor:
    """Sum over [i - r, i + r] clipped to the image along ``dim`` (-1 or -2), from a cumulative sum.

    Replicate-padding the cumulative sum by r on both sides turns the clipped window bounds into plain slices.
    """
    n = x.shape[dim]
    c = F.pad(torch.cumsum(x, dim=dim), (1, 0) if dim == -1 else (0, 0, 1, 0))  # c[k] = sum of x[:k]
    c = F.pad(c, (r, r, 0, 0) if dim == -1 else (0, 0, r, r), mode="replicate")
    return c.narrow(dim, 2 * r + 1, n) - c.narrow(dim, 0, n)


def _counts(n: int, r: int, like: Tensor) -> Tensor:
    i = torch.arange(n, dtype=like.dtype, device=like.device)
    return (i + r).clamp(max=n - 1) - (i - r).clamp(min=0) + 1


def box_mean(x: Tensor, r: int) -> Tensor:
    """Mean over the (2r+1)^2 window clipped to the image; sums in float64 (guided filtering subtracts moments)."""
    x64 = x.to(torch.float64)
    s = _box_sum_1d(_box_sum_1d(x64, r, -2), r, -1)
    h, w = x.shape[-2:]
    n = _counts(h, r, x64).view(h, 1) * _counts(w, r, x64).view(1, w)
    return (s / n).to(x.dtype)


def correlate(x: Tensor, kernel: list[list[float]]) -> Tensor:
    """'valid' correlation with a small dense kernel as a sum of shifted slices."""
    kh, kw = len(kernel), len(kernel[0])
    h, w = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    out = torch.zeros(*x.shape[:-2], h, w, dtype=x.dtype, device=x.device)
    for i in range(kh):
        for j in range(kw):
            if kernel[i][j] != 0.0:
                out.add_(x[..., i : i + h, j : j + w], alpha=kernel[i][j])
    return out


def gaussian_blur(x: Tensor, size: int, sigma: float) -> Tensor:
    """Normalised separable Gaussian, replicate padding, same size as ``x``."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma * sigma))
    taps = (g / g.sum()).tolist()
    p = size // 2
    x = F.pad(x, (p, p, p, p), mode="replicate")
    return correlate(correlate(x, [taps]), [[t] for t in taps])

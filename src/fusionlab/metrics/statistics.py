"""Pixel statistics of the fused image and its plain agreement with the sources: SD, SF, AG, CC, SCD, MSE, RMSE,
PSNR.

These are the metrics every evaluator agrees on except for normalisations (AG divisor, MSE scale, PSNR peak),
which the ``convention`` argument selects (see ``../shared/research/metrics.md`` §2). Sums of squares are BLAS
dot products (no squared image is allocated): these metrics are cheap, so allocation is most of their cost.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import image_dot, image_mean, pearson
from fusionlab.metrics.shared import Intermediates, ensure


def sd(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Population standard deviation of F: contrast spread.

    From the sums S1 = sum F and S2 = sum F^2 as sqrt(n S2 - S1^2) / n: on 8-bit images both are exact
    integers in float64 (n S2 < 2^53 up to ~1.4 Mpx), so even a constant image gives exactly 0.
    """
    n = f[0].numel()
    s1 = ensure(cache, f, a, b).total("f")
    return torch.sqrt((n * image_dot(f, f) - s1 * s1).clamp_(min=0)) / n


def sf(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Spatial frequency: RMS of horizontal and vertical first differences, each averaged over its own count
    (``vifb``: both sums divided by H*W, as VIFB/MEFB ``metricsSpatial_frequency.m``)."""
    dx = f[..., :, 1:] - f[..., :, :-1]
    dy = f[..., 1:, :] - f[..., :-1, :]
    sx, sy = image_dot(dx, dx), image_dot(dy, dy)
    if convention == "vifb":
        h, w = f.shape[-2:]
        return torch.sqrt((sx + sy) / (h * w))
    return torch.sqrt(sx / dx[0].numel() + sy / dy[0].numel())


def _numpy_gradient(x: Tensor) -> tuple[Tensor, Tensor]:
    """numpy/MATLAB ``gradient``: central differences inside, one-sided differences on the border."""
    gx = torch.empty_like(x)
    gy = torch.empty_like(x)
    gx[..., :, 1:-1] = (x[..., :, 2:] - x[..., :, :-2]) / 2
    gx[..., :, 0] = x[..., :, 1] - x[..., :, 0]
    gx[..., :, -1] = x[..., :, -1] - x[..., :, -2]
    gy[..., 1:-1, :] = (x[..., 2:, :] - x[..., :-2, :]) / 2
    gy[..., 0, :] = x[..., 1, :] - x[..., 0, :]
    gy[..., -1, :] = x[..., -1, :] - x[..., -2, :]
    return gx, gy


def ag(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Average gradient; CDDFuse divides the sum by H*W, the MATLAB codes (``tang``, ``vifb``) by (H-1)(W-1).

    Float32 (sum in float64): on 8-bit images the gradients are halves of integers and their squares exact,
    so only the square root rounds (relative 6e-8).
    """
    gx, gy = _numpy_gradient(f.to(torch.float32))
    total = torch.sqrt(gx.mul_(gx).add_(gy * gy).div_(2)).sum(dim=(-3, -2, -1), dtype=torch.float64)
    h, w = f.shape[-2:]
    return total / ((h - 1) * (w - 1) if convention in ("tang", "vifb") else h * w)


def cc(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Mean Pearson correlation of F with each source."""
    return (pearson(a, f) + pearson(b, f)) / 2


def scd(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Sum of the correlations of differences: r(F-B, A) + r(F-A, B); NaN if F equals a source plus a constant."""
    return pearson(a, f - b) + pearson(b, f - a)


def _sq_error(x: Tensor, f: Tensor, out: Tensor | None = None) -> Tensor:
    """Per-image sum of (x - f)^2; ``out`` is scratch space for the difference."""
    d = torch.sub(x, f, out=out) if out is not None else x - f
    return image_dot(d, d)


def _mse_255(f: Tensor, a: Tensor, b: Tensor) -> Tensor:
    scratch = torch.empty_like(f)  # one difference buffer for both sources
    return (_sq_error(a, f, scratch) + _sq_error(b, f, scratch)) / (2 * f[0].numel())


def mse(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Mean of the two source MSEs; on 0..255 (``cddfuse``; also ``vifb``, which ships no MSE) or on 0..1
    (``tang``)."""
    m = _mse_255(f, a, b)
    return m / 255.0**2 if convention == "tang" else m


def rmse(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Mean of the two sources' root-mean-square errors on 0..255 (textbook; lower is better)."""
    n = f[0].numel()
    return (torch.sqrt(_sq_error(a, f) / n) + torch.sqrt(_sq_error(b, f) / n)) / 2


def rmse_vifb(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """VIFB's "Rmse" (``metricsRmse.m``): per source sqrt(sum (S - F)^2) / (H*W), averaged = RMSE / sqrt(H*W)."""
    h, w = f.shape[-2:]
    return (torch.sqrt(_sq_error(a, f)) + torch.sqrt(_sq_error(b, f))) / (2 * h * w)


def psnr(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """PSNR against the mean source MSE: CDDFuse uses max(F) as the peak, Tang's toolbox 255 on a 0..1 MSE;
    VIFB (``metricsPsnr.m``) puts its "mse", the RMSE_vifb value, under the square root: 20 log10(255 / sqrt)."""
    if convention == "vifb":
        return 20 * torch.log10(255.0 / torch.sqrt(rmse_vifb(f, a, b)))
    m = _mse_255(f, a, b)
    if convention == "tang":
        return 10 * torch.log10(255.0**2 / (m / 255.0**2))
    peak = f.amax(dim=(-3, -2, -1))
    return 10 * torch.log10(peak * peak / m)


def psnr_gt(f: Tensor, target: Tensor) -> Tensor:
    """Textbook full-reference PSNR with peak 255, for synthetic data that has a ground truth."""
    m = image_mean((f - target) ** 2)
    return 10 * torch.log10(255.0**2 / m)

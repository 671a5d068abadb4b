"""Differentiable image operators shared by loss terms (Sobel gradients, Gaussian SSIM)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor


def cached_constant(fn):
    """``functools.cache`` for constant tensors (filter kernels) that are built outside inference mode, whatever
    mode the first caller is in: a kernel first built during validation (``torch.inference_mode``) would be an
    inference tensor, which a later training step cannot save for backward."""
    cached = functools.cache(fn)

    @functools.wraps(fn)
    def build(*args):
        with torch.inference_mode(False):
            return cached(*args)

    build.cache_clear = cached.cache_clear
    return build


@cached_constant
def _sobel_kernels(device: str, dtype: torch.dtype) -> Tensor:
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    return torch.stack((kx, kx.t()))[:, None].to(device=device, dtype=dtype)


def sobel_magnitude(x: Tensor) -> Tensor:
    """|Gx| + |Gy| of a (B, 1, H, W) image with replicate padding (L1 magnitude, as SwinFusion uses)."""
    k = _sobel_kernels(str(x.device), x.dtype)
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)
    return g.abs().sum(1, keepdim=True)


@cached_constant
def _gaussian_window(size: int, sigma: float, device: str, dtype: torch.dtype) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None].to(device=device, dtype=dtype)


def ssim_map(x: Tensor, y: Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> Tensor:
    """Per-pixel SSIM of two (B, 1, H, W) images ('same' size via reflect padding)."""
    w = _gaussian_window(window, sigma, str(x.device), x.dtype)
    pad = window // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.pad(t, (pad, pad, pad, pad), mode=mode), w)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))

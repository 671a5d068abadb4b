"""Guided Filtering-based Fusion (GFF; Li, Kang and Hu, IEEE TIP 2013).

1. Two-scale decomposition: base = 31x31 mean filter of each source, detail = source - base.
2. Saliency: |Laplacian| smoothed by an 11x11 Gaussian (sigma 5); the binary weight map marks, per pixel,
   the source with the largest saliency.
3. The weight maps are refined by guided filtering with the source as guide: large and smooth for the base
   layer (r1 = 45, eps1 = 0.3), small and sharp for the detail layer (r2 = 7, eps2 = 1e-6), then
   normalised to sum to one.
4. fused = sum of weighted bases + sum of weighted details.
Filtering runs in float64: the guided filter subtracts box-filtered moments and eps2 = 1e-6 is tiny.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.baselines._filters import box_mean, correlate, gaussian_blur
from fusionlab.baselines.base import ClassicalFusion


def guided_filter(guide: Tensor, src: Tensor, r: int, eps: float) -> Tensor:
    """He et al.'s guided filter (gray guide): edge-preserving smoothing of ``src`` that follows ``guide``."""
    mean_i = box_mean(guide, r)
    mean_p = box_mean(src, r)
    cov_ip = box_mean(guide * src, r) - mean_i * mean_p
    var_i = box_mean(guide * guide, r) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)


def _laplacian_abs(x: Tensor) -> Tensor:
    kernel = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
    return correlate(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel).abs()


class GuidedFilterFusion(ClassicalFusion):
    """GFF with the paper's parameters (r1=45, eps1=0.3, r2=7, eps2=1e-6, 31x31 mean, Gaussian 11/5)."""

    name = "gff"

    def __init__(
        self, r1: int = 45, eps1: float = 0.3, r2: int = 7, eps2: float = 1e-6, base_size: int = 31
    ) -> None:
        super().__init__()
        self.r1, self.eps1, self.r2, self.eps2 = r1, eps1, r2, eps2
        self.base_radius = base_size // 2

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        src = torch.stack([a, b]).to(torch.float64)  # (2, B, 1, H, W)
        flat = src.flatten(0, 1)
        base = box_mean(flat, self.base_radius)
        detail = flat - base
        saliency = gaussian_blur(_laplacian_abs(flat), 11, 5.0).view_as(src)
        pick_a = (saliency[0] >= saliency[1]).to(torch.float64)
        masks = torch.stack([pick_a, 1 - pick_a]).flatten(0, 1)
        w_base = guided_filter(flat, masks, self.r1, self.eps1).view_as(src) + 1e-12
        w_detail = guided_filter(flat, masks, self.r2, self.eps2).view_as(src) + 1e-12
        w_base = w_base / w_base.sum(0, keepdim=True)
        w_detail = w_detail / w_detail.sum(0, keepdim=True)
        fused = (w_base * base.view_as(src)).sum(0) + (w_detail * detail.view_as(src)).sum(0)
        return fused.to(a.dtype)

"""Laplacian-pyramid fusion (Burt and Adelson 1983; Burt and Kolczynski 1993).

Each source is split into band-pass detail levels and a low-pass base; details are chosen per coefficient by
the larger magnitude (the sharper source wins each edge), bases are averaged, and the pyramid is collapsed.
Because every level stores ``G_k - expand(G_{k+1})`` the collapse inverts the split exactly for any
``expand``, so fusing an image with itself returns it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.baselines.base import ClassicalFusion

_BURT = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def _blur(x: Tensor) -> Tensor:
    k = torch.tensor(_BURT, dtype=x.dtype, device=x.device)
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, 5)), k.view(1, 1, 5, 1))


def _expand(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """[L_0, ..., L_{levels-1}, G_levels]: detail levels from fine to coarse, then the base."""
    pyramid = []
    for _ in range(levels):
        down = _blur(x)[..., ::2, ::2]
        pyramid.append(x - _expand(down, x.shape[-2:]))
        x = down
    pyramid.append(x)
    return pyramid


def collapse(pyramid: list[Tensor]) -> Tensor:
    x = pyramid[-1]
    for detail in reversed(pyramid[:-1]):
        x = _expand(x, detail.shape[-2:]) + detail
    return x


class LaplacianFusion(ClassicalFusion):
    """Max-abs detail rule, averaged base; ``levels`` is capped so the base stays at least ``min_size`` px."""

    name = "laplacian"

    def __init__(self, levels: int = 4, min_size: int = 8) -> None:
        super().__init__()
        self.levels = levels
        self.min_size = min_size

    def num_levels(self, h: int, w: int) -> int:
        n, side = 0, min(h, w)
        while n < self.levels and side >= 2 * self.min_size:
            side = (side + 1) // 2
            n += 1
        return n

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        n = self.num_levels(*a.shape[-2:])
        pa, pb = laplacian_pyramid(a, n), laplacian_pyramid(b, n)
        fused = [torch.where(da.abs() >= db.abs(), da, db) for da, db in zip(pa[:-1], pb[:-1])]
        fused.append((pa[-1] + pb[-1]) / 2)
        return collapse(fused)

"""Source-preservation terms: differentiable forms of the metrics that say how much of each source reaches F.

The pixel objective (max intensity, max gradient, SSIM) is a proxy for those metrics, and a misaligned one
here: trained on it, the default model's validation quality (MI, SCD, VIF, Qabf, SSIM against averaging)
falls below its untrained priors (docs/quality.md). These terms train on the
definitions themselves, so "better" on the training task means what the evaluation means by it:

* :class:`EdgePreservationLoss` - 1 - Q^AB/F (Xydeas-Petrovic): each source's Sobel edges, weighted by their
  strength, kept in F with their strength and orientation. Same constants as the metric; the angle is folded
  smoothly where the horizontal response vanishes, and a small epsilon keeps the gradient finite on flat areas.
* :class:`CorrelationOfDifferencesLoss` - 1 - SCD/2: r(F - B, A) + r(F - A, B), per image, the information
  F carries from each source that the other does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.losses.base import LossTerm

_HALF_PI = math.pi / 2


def _sobel(x: Tensor) -> tuple[Tensor, Tensor]:
    """Horizontal and vertical Sobel responses of (B, 1, H, W), zero padding (as the Qabf reference)."""
    kx = x.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    k = torch.stack((kx, kx.t()))[:, None]
    g = F.conv2d(F.pad(x, (1, 1, 1, 1)), k)
    return g[:, :1], g[:, 1:]


def _strength_angle(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    sx, sy = _sobel(x)
    g = torch.sqrt(sx * sx + sy * sy + eps * eps)
    safe = torch.where(sx.abs() < eps, torch.where(sx < 0, -eps, eps), sx)  # atan(sy/sx) in (-pi/2, pi/2)
    return g, torch.atan(sy / safe)


def edge_preservation(f: Tensor, a: Tensor, b: Tensor, eps: float = 1e-3) -> Tensor:
    """Per-image Q^AB/F (B,) on [0, 1] images, differentiable in ``f`` (sources carry no gradient)."""
    with torch.no_grad():
        g_a, al_a = _strength_angle(a, eps)
        g_b, al_b = _strength_angle(b, eps)
    g_f, al_f = _strength_angle(f, eps)

    def kept(g_s: Tensor, al_s: Tensor) -> Tensor:
        ratio = torch.minimum(g_s, g_f) / torch.maximum(g_s, g_f)
        orient = 1 - (al_s - al_f).abs() / _HALF_PI
        return torch.sigmoid(15 * (ratio - 0.5)) * torch.sigmoid(22 * (orient - 0.8))

    num = (kept(g_a, al_a) * g_a + kept(g_b, al_b) * g_b).sum((1, 2, 3))
    return num / (g_a + g_b).sum((1, 2, 3))


def _pearson(x: Tensor, y: Tensor) -> Tensor:
    x = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
    y = y.flatten(1) - y.flatten(1).mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-8)


def correlation_of_differences(f: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Per-image SCD (B,): r(F - B, A) + r(F - A, B)."""
    return _pearson(a, f - b) + _pearson(b, f - a)


class EdgePreservationLoss(LossTerm):
    """1 - mean Q^AB/F: keep every source edge in F at its strength and orientation."""

    name = "edge_preservation"

    def __init__(self, weight: float = 1.0, eps: float = 1e-3) -> None:
        super().__init__(weight)
        self.eps = float(eps)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        return 1 - edge_preservation(fused, batch["a"].float(), batch["b"].float(), self.eps).mean()


class CorrelationOfDifferencesLoss(LossTerm):
    """1 - mean SCD / 2: carry what each source holds and the other does not."""

    name = "scd"

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        return 1 - correlation_of_differences(fused, batch["a"].float(), batch["b"].float()).mean() / 2

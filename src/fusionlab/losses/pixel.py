"""The pixel objective family of SwinFusion/UniFusion (DESIGN §6): intensity, gradient-max, SSIM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.ops import sobel_magnitude, ssim_map

MAX_TASKS = ("ivif", "mif")


def intensity_target(a: Tensor, b: Tensor, tasks: Sequence[str] | None, rule: str) -> Tensor:
    """Per-sample target: max(a, b) or mean(a, b); ``rule='task'`` picks max for ivif/mif, mean for mef/mff."""
    if rule == "max":
        return torch.maximum(a, b)
    if rule == "mean":
        return 0.5 * (a + b)
    if rule != "task":
        raise ConfigError(f"intensity rule must be 'task', 'max' or 'mean', got {rule!r}")
    if tasks is None:
        return torch.maximum(a, b)
    use_max = torch.tensor([t in MAX_TASKS for t in tasks], device=a.device).view(-1, 1, 1, 1)
    return torch.where(use_max, torch.maximum(a, b), 0.5 * (a + b))


class IntensityLoss(LossTerm):
    """L1 to the brighter source (IVIF/MIF: keep thermal targets, bone) or their mean (MEF/MFF)."""

    name = "intensity"

    def __init__(self, weight: float = 20.0, rule: str = "task") -> None:
        super().__init__(weight)
        intensity_target(torch.zeros(1), torch.zeros(1), None, rule)  # validate the rule now
        self.rule = rule

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        a, b = batch["a"].float(), batch["b"].float()
        return F.l1_loss(fused, intensity_target(a, b, batch.get("task"), self.rule))


class GradientLoss(LossTerm):
    """L1 between the fused Sobel magnitude and the elementwise max of the sources' (texture kept)."""

    name = "gradient"

    def __init__(self, weight: float = 20.0) -> None:
        super().__init__(weight)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        ga, gb = sobel_magnitude(batch["a"].float()), sobel_magnitude(batch["b"].float())
        return F.l1_loss(sobel_magnitude(fused), torch.maximum(ga, gb))


class SSIMLoss(LossTerm):
    """1 - mean(SSIM(F, A), SSIM(F, B)) with an 11x11 Gaussian window on [0, 1] images."""

    name = "ssim"

    def __init__(self, weight: float = 10.0, window: int = 11, sigma: float = 1.5) -> None:
        super().__init__(weight)
        self.window, self.sigma = window, sigma

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        sa = ssim_map(fused, batch["a"].float(), self.window, self.sigma).mean()
        sb = ssim_map(fused, batch["b"].float(), self.window, self.sigma).mean()
        return 1.0 - 0.5 * (sa + sb)

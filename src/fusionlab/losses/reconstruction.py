"""Reconstruction: each source decoded back from its own features (UniFusion's lower level, phi).

The module adds ``rec_a``/``rec_b`` (``model.reconstruct(a)``, ``model.reconstruct(b)``) to the batch when
any term declares ``needs_reconstruction``; in bilevel training these terms form the lower-level objective.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.ops import ssim_map


class ReconstructionLoss(LossTerm):
    """L1(rec_a, a) + L1(rec_b, b), plus ``ssim_weight`` x (1 - SSIM) of each reconstruction."""

    name = "reconstruction"
    needs_reconstruction = True

    def __init__(self, weight: float = 10.0, ssim_weight: float = 0.0) -> None:
        super().__init__(weight)
        if ssim_weight < 0:
            raise ConfigError(f"reconstruction ssim_weight must be >= 0, got {ssim_weight}")
        self.ssim_weight = float(ssim_weight)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        if "rec_a" not in batch:
            raise KeyError("reconstruction loss needs batch['rec_a'] / ['rec_b'] (set by FusionModule)")
        total = fused.new_zeros(())
        for rec, src in ((batch["rec_a"], batch["a"]), (batch["rec_b"], batch["b"])):
            rec, src = rec.float(), src.float()
            total = total + F.l1_loss(rec, src)
            if self.ssim_weight:
                total = total + self.ssim_weight * (1 - ssim_map(rec, src).mean())
        return total

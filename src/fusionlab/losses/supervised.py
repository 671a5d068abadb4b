"""Supervised fidelity to a ground-truth ``target`` where the data has one.

Source: GIFNet (Cheng et al., CVPR 2025) trains its multi-focus branch with MSE(F, clear image) on
near/far-focus pairs synthesised from sharp images, next to the unsupervised IVIF objective. Our
synthetic data carries a ``target`` for every task; ``tasks`` restricts the term to those samples
(GIFNet: mff only), so the unsupervised terms still rule the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.information import task_mask

DISTANCES = ("mse", "l1")


class SupervisedLoss(LossTerm):
    """d(F, target) on the samples with a target whose task is in ``tasks``; 0 when there are none."""

    name = "supervised"

    def __init__(self, weight: float = 1.0, distance: str = "mse", tasks: Sequence[str] | None = ("mff",)) -> None:
        super().__init__(weight)
        if distance not in DISTANCES:
            raise ConfigError(f"supervised distance must be one of {DISTANCES}, got {distance!r}")
        self.distance = distance
        self.tasks = list(tasks) if tasks is not None else None

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        target = batch.get("target")
        if target is None:  # real data: no ground truth, nothing to supervise
            return fused.new_zeros(())
        keep = task_mask(batch.get("task"), self.tasks, fused.shape[0], fused.device)
        if not bool(keep.any()):
            return fused.new_zeros(())
        f, t = fused[keep], target.float()[keep]
        return F.mse_loss(f, t) if self.distance == "mse" else F.l1_loss(f, t)

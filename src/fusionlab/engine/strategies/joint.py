"""``optim.mode=joint``: one optimiser step on the weighted sum of every loss term (the common case)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from fusionlab.engine.strategies.base import TrainingStrategy

if TYPE_CHECKING:
    from fusionlab.engine.module import FusionModule


class JointStrategy(TrainingStrategy):
    """Lightning's automatic optimisation: it steps, clips (``optim.gradient_clip_val``) and accumulates."""

    name = "joint"
    automatic_optimization = True

    def step(self, module: FusionModule, batch: dict) -> Tensor:
        total, parts = module.objective_loss(module.objective, batch)
        module.log_losses(total, parts, batch["a"].shape[0])
        return total

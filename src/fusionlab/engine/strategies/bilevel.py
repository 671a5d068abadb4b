"""``optim.mode=bilevel``: UniFusion's alternation of reconstruction (phi) and fusion (theta) updates.

Lower level: ``inner_steps`` updates of phi (backbone + decoder) on the reconstruction terms. Upper level: one
update of theta (the fusers) on the fusion terms, through the updated phi. Two optimisers, manual stepping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from fusionlab.engine.strategies.base import TrainingStrategy
from fusionlab.errors import ConfigError

if TYPE_CHECKING:
    from fusionlab.engine.module import FusionModule


class BilevelStrategy(TrainingStrategy):
    name = "bilevel"

    def __init__(self, inner_steps: int = 1) -> None:
        if inner_steps < 1:
            raise ConfigError(f"optim.inner_steps must be >= 1, got {inner_steps}")
        self.inner_steps = int(inner_steps)

    def validate(self, module: FusionModule) -> None:
        model = module.model
        if not hasattr(model, "fusion_parameters") or not hasattr(model, "reconstruction_parameters"):
            raise ConfigError(f"optim.mode=bilevel needs a model with fusion_parameters() and "
                              f"reconstruction_parameters(); {type(model).__name__} has neither")
        if module.objective is None or None in module.objective.split():
            raise ConfigError("optim.mode=bilevel needs both a reconstruction term (e.g. loss=pixel_rec) and at "
                              "least one fusion term with weight > 0")
        if module.reconstruction_optimizer_factory is None:
            raise ConfigError("optim.mode=bilevel needs optim.reconstruction_optimizer (the phi optimiser)")

    def parameter_groups(self, module: FusionModule) -> list[list[nn.Parameter]]:
        """[theta, phi]: the model declares which parameters fuse and which reconstruct."""
        theta = list(module.model.fusion_parameters())
        phi = list(module.model.reconstruction_parameters())
        if not theta or not phi:
            raise ConfigError(f"bilevel training needs trainable fusion (theta: {len(theta)}) and reconstruction "
                              f"(phi: {len(phi)}) parameters")
        return [theta, phi]

    def step(self, module: FusionModule, batch: dict) -> Tensor:
        opt_theta, opt_phi = module.optimizers()
        rec_objective, fuse_objective = module.objective.split()
        bs = batch["a"].shape[0]
        for _ in range(self.inner_steps):
            rec_total, rec_parts = module.objective_loss(rec_objective, batch, fuse=False)
            module.manual_step(opt_phi, rec_total)
        fuse_total, fuse_parts = module.objective_loss(fuse_objective, batch)
        module.manual_step(opt_theta, fuse_total)
        module.step_schedulers()
        module.log_losses(fuse_total + rec_total.detach(), {**rec_parts, **fuse_parts}, bs)
        module.log("train/loss/lower", rec_total, batch_size=bs)
        module.log("train/loss/upper", fuse_total, batch_size=bs)
        return fuse_total.detach()

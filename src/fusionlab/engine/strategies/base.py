"""What every training strategy provides: its optimisers' parameter groups and one training step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from fusionlab.errors import ConfigError

if TYPE_CHECKING:
    from fusionlab.engine.module import FusionModule


class TrainingStrategy:
    """One way of turning a batch into optimiser steps; the module owns model, objective and logging."""

    name = "base"
    automatic_optimization = False  # True: Lightning steps the single optimiser (and clips gradients)

    def parameter_groups(self, module: FusionModule) -> list[list[nn.Parameter]]:
        """One parameter list per optimiser, in the order ``configure_optimizers`` builds them."""
        params = [p for p in module.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError(f"{type(module.model).__name__} has no trainable parameters: nothing to train")
        return [params]

    def validate(self, module: FusionModule) -> None:
        """Fail at start-up (not after the first batch) when the model or objective cannot serve this mode."""

    def step(self, module: FusionModule, batch: dict) -> Tensor:
        raise NotImplementedError

"""``optim.mode=alternating``: GIFNet's multi-task learning, one optimiser step per task present in a batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from fusionlab.engine.strategies.base import TrainingStrategy

if TYPE_CHECKING:
    from fusionlab.engine.module import FusionModule


def task_subset(batch: dict, indices: list[int]) -> dict:
    """The samples ``indices`` of a collated batch (tensors and per-sample lists alike)."""
    n = len(batch["task"])
    idx = torch.tensor(indices, device=batch["a"].device)
    return {k: (v.index_select(0, idx) if isinstance(v, Tensor) and v.shape[:1] == (n,)
                else [v[i] for i in indices] if isinstance(v, list) else v) for k, v in batch.items()}


class AlternatingStrategy(TrainingStrategy):
    name = "alternating"

    def step(self, module: FusionModule, batch: dict) -> Tensor:
        opt = module.optimizers()
        tasks = list(batch["task"])
        weighted = []
        for task in dict.fromkeys(tasks):
            indices = [i for i, t in enumerate(tasks) if t == task]
            total, _ = module.objective_loss(module.objective, task_subset(batch, indices))
            module.manual_step(opt, total)
            module.log(f"train/loss/task/{task}", total, batch_size=len(indices))
            weighted.append(total.detach() * len(indices))
        module.step_schedulers()
        mean = torch.stack(weighted).sum() / len(tasks)
        module.log("train/loss", mean, prog_bar=True, batch_size=len(tasks))
        return mean

"""Learning-rate schedules stepped per optimiser step."""

from __future__ import annotations

import math

import torch


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.05, min_lr_ratio: float = 0.01
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then cosine decay to ``min_lr_ratio`` of the base rate, over ``total_steps``."""
    if not 0 <= warmup_fraction < 1:
        raise ValueError(f"optim.scheduler.warmup_fraction must be in [0, 1), got {warmup_fraction}")
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"optim.scheduler.min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    total = max(int(total_steps), 1)
    warmup = int(round(warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

"""Learning-rate schedules stepped per optimiser step."""

from __future__ import annotations

import math

import torch

from fusionlab.errors import ConfigError


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.05, min_lr_ratio: float = 0.01
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then cosine decay to ``min_lr_ratio`` of the base rate, over ``total_steps``."""
    if not 0 <= warmup_fraction < 1:
        raise ConfigError(f"optim.scheduler.warmup_fraction must be in [0, 1), got {warmup_fraction}")
    if not 0 <= min_lr_ratio <= 1:
        raise ConfigError(f"optim.scheduler.min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    total = max(int(total_steps), 1)
    warmup = int(round(warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


SCHEDULERS = ("cosine", "none")
"""``optim.scheduler.name``: ``cosine`` (linear warm-up, cosine decay per step) or ``none`` (constant rate)."""


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, cfg: dict) -> torch.optim.lr_scheduler.LambdaLR:
    """The scheduler ``cfg['name']`` for ``optimizer``; unknown names fail instead of falling back."""
    name = cfg.get("name", "cosine")
    if name != "cosine":
        raise ConfigError(f"optim.scheduler.name must be one of {', '.join(SCHEDULERS)}, got {name!r}")
    return warmup_cosine(optimizer, total_steps, float(cfg.get("warmup_fraction", 0.05)),
                         float(cfg.get("min_lr_ratio", 0.01)))

"""Exponential moving average of a parameter subset (UniFusion's EMA of the fusion parameters theta).

The shadow weights are buffers of this module, so they live in every checkpoint and survive a resume.
Evaluation swaps them in (``with ema.applied():``) and restores the trained weights afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from fusionlab.errors import ConfigError


class ParameterEMA(nn.Module):
    """``shadow = decay * shadow + (1 - decay) * param`` after every update step."""

    def __init__(self, named_params: list[tuple[str, nn.Parameter]], decay: float = 0.999) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"optim.ema_decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self._params = named_params
        self._names = [n.replace(".", "__") for n, _ in named_params]
        for name, (_, p) in zip(self._names, named_params):
            self.register_buffer(name, p.detach().clone())

    @torch.no_grad()
    def update(self) -> None:
        for name, (_, p) in zip(self._names, self._params):
            getattr(self, name).lerp_(p.detach(), 1.0 - self.decay)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily load the averaged weights into the live parameters."""
        backup = [p.detach().clone() for _, p in self._params]
        with torch.no_grad():
            for name, (_, p) in zip(self._names, self._params):
                p.copy_(getattr(self, name))
        try:
            yield
        finally:
            with torch.no_grad():
                for saved, (_, p) in zip(backup, self._params):
                    p.copy_(saved)

    def shadow(self) -> dict[str, torch.Tensor]:
        """{parameter name: averaged value} (what evaluation of a checkpoint loads)."""
        return {n: getattr(self, b) for b, (n, _) in zip(self._names, self._params)}

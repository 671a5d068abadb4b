"""The backbone contract that every feature extractor implements.

A backbone maps one luminance image ``(B, 1, H, W)`` in [0, 1] to a list of feature maps, finest first.
It declares what it returns so that :class:`~fusionlab.models.FusionNet` can build the fuser and decoder
without knowing the family:

* ``out_channels[i]`` - channels of level ``i``;
* ``reductions[i]`` - the spatial down-sampling factor of level ``i`` (1 = full resolution), increasing;
* ``size_multiple`` - H and W must be divisible by it (FusionNet pads and crops back).
"""

from __future__ import annotations

from torch import Tensor, nn

from fusionlab.errors import ConfigError


class Backbone(nn.Module):
    """Base class: subclasses set the three declarations in ``__init__`` and implement ``forward``."""

    out_channels: list[int]
    reductions: list[int]
    size_multiple: int = 1
    min_size: int = 1  # smallest H and W the backbone accepts (FusionNet checks before padding)

    def forward(self, x: Tensor) -> list[Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def check_declarations(self) -> None:
        """Fail early, with the class name, when a backbone's declarations are inconsistent."""
        name = type(self).__name__
        if len(self.out_channels) != len(self.reductions) or not self.out_channels:
            raise ConfigError(f"{name}: out_channels and reductions must be non-empty lists of equal length")
        if self.reductions[0] != 1 or sorted(self.reductions) != list(self.reductions):
            raise ConfigError(f"{name}: reductions must start at 1 (full resolution) and increase")
        if any(self.size_multiple % r for r in self.reductions):
            raise ConfigError(f"{name}: size_multiple {self.size_multiple} must be divisible by every reduction")

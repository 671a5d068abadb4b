"""The contract every classical baseline shares with a learned model: ``forward(a, b) -> fused``.

Inputs and output are ``(B, 1, H, W)`` luminance in [0, 1]; any H x W works (``size_multiple = 1``), and a
baseline has no parameters, so evaluation code can treat it exactly like a checkpoint.
"""

from __future__ import annotations

from torch import Tensor, nn

from fusionlab.errors import ConfigError


class ClassicalFusion(nn.Module):
    """Base class: validates the pair, runs :meth:`fuse`, clamps to [0, 1] in the input's dtype."""

    size_multiple: int = 1
    name: str = "classical"

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ConfigError(f"sources must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        if a.ndim != 4 or a.shape[1] != 1:
            raise ConfigError(f"sources must be (B, 1, H, W) luminance, got shape {tuple(a.shape)}")
        return self.fuse(a, b).clamp(0.0, 1.0).to(a.dtype)

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

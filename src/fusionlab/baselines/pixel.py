"""Pixel-wise rules: the two reference rows every fusion table can afford (average and maximum)."""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.baselines.base import ClassicalFusion


class AverageFusion(ClassicalFusion):
    """(a + b) / 2: keeps every source's contrast at half strength; the floor a learned model must beat."""

    name = "average"

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        return (a + b) / 2


class MaxFusion(ClassicalFusion):
    """max(a, b): keeps bright targets (IR) and highlights, at the cost of the darker source's texture."""

    name = "max"

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.maximum(a, b)

"""A light dense CNN (GIFNet/DenseFuse lineage) with three scales: the default, cheap backbone."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.models.backbones.base import Backbone


def conv_act(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2), nn.LeakyReLU(0.1, True))


class DenseBlock(nn.Module):
    """Each layer sees the concatenation of all earlier outputs; a 1x1 transition sets the width."""

    def __init__(self, channels: int, growth: int, layers: int, out: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(conv_act(channels + i * growth, growth) for i in range(layers))
        self.transition = conv_act(channels + layers * growth, out, k=1)

    def forward(self, x: Tensor) -> Tensor:
        # Same function as transition(cat(x, y1, ..., yL)) with each layer on cat(x, y1, ...), built with
        # fewer concatenations: a channel concatenation in channels-last copies short per-pixel runs into a
        # fresh full-resolution tensor (~30% of the fp32 forward). The first layer reads x itself, and the
        # 1x1 transition is split by linearity (W [f; y] = W_f f + W_y y) so the widest concatenation is
        # never built.
        feats, y = x, None
        for layer in self.layers:
            if y is not None:
                feats = torch.cat((feats, y), 1)
            y = layer(feats)
        conv, act = self.transition[0], self.transition[1]
        c = feats.shape[1]
        out = F.conv2d(feats, conv.weight[:, :c], conv.bias)
        out = out.add_(F.conv2d(y, conv.weight[:, c:]))
        return act(out)


class DenseCNN(Backbone):
    """Three levels (full, 1/2, 1/4 resolution); ``width`` scales every level (default 16 -> ~0.2 M params
    for the whole FusionNet)."""

    def __init__(self, width: int = 16, growth: int | None = None, layers: int = 2) -> None:
        super().__init__()
        if width < 1 or layers < 1:
            raise ConfigError(f"DenseCNN: width ({width}) and layers ({layers}) must be >= 1")
        g = growth or width
        c0, c1, c2 = width, 2 * width, 3 * width
        self.stem = conv_act(1, c0)
        self.level0 = DenseBlock(c0, g, layers, c0)
        self.down1 = conv_act(c0, c1, stride=2)
        self.level1 = DenseBlock(c1, g, layers, c1)
        self.down2 = conv_act(c1, c2, stride=2)
        self.level2 = DenseBlock(c2, g, layers, c2)
        self.out_channels = [c0, c1, c2]
        self.reductions = [1, 2, 4]
        self.size_multiple = 4
        self.check_declarations()

    def forward(self, x: Tensor) -> list[Tensor]:
        f0 = self.level0(self.stem(x))
        f1 = self.level1(self.down1(f0))
        f2 = self.level2(self.down2(f1))
        return [f0, f1, f2]

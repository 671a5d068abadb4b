"""Base/detail decomposition loss on the model's features (CDDFuse, Zhao et al., CVPR 2023).

CDDFuse splits each source's features into a *base* part (low-frequency, shared across modalities) and a
*detail* part (high-frequency, modality-specific), and trains the encoder so the two sources' bases
correlate while their details do not:

    L_decomp = cc(D_a, D_b)^2 / (1.01 + cc(B_a, B_b))

with cc the per-channel Pearson correlation averaged over channels and batch. CDDFuse has dedicated
base/detail branches; our backbones return one pyramid, so the split is a choice (ours):

* ``split="levels"`` (default): base = the coarsest level, detail = the finest level. A pyramid's coarse
  level carries the scene layout both modalities share; the full-resolution level carries edges/texture.
* ``split="lowpass"``: on every level, base = a box low-pass of the features (``kernel``), detail = the
  residual; the loss is averaged over levels. Works for single-level backbones too.

The term reads ``batch["features_a"/"features_b"]`` and does not look at the fused image; its gradient
goes into the encoder. Without features there is nothing to decompose, so it fails with a clear message.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.features import get_features

SPLITS = ("levels", "lowpass")


def correlation(x: Tensor, y: Tensor, eps: float = 1e-6) -> Tensor:
    """Pearson correlation per (sample, channel) over pixels, averaged: (B, C, H, W) x2 -> scalar in [-1, 1]."""
    x = x.flatten(2)
    y = y.flatten(2)
    x = x - x.mean(-1, keepdim=True)
    y = y - y.mean(-1, keepdim=True)
    cc = (x * y).sum(-1) / (x.pow(2).sum(-1).sqrt() * y.pow(2).sum(-1).sqrt() + eps)
    return cc.clamp(-1, 1).mean()


def box_lowpass(x: Tensor, kernel: int) -> Tensor:
    """Same-size box blur with reflect padding (replicate when the map is too small to reflect)."""
    pad = kernel // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad), mode=mode), kernel, stride=1)


def decomposition_ratio(base_a: Tensor, base_b: Tensor, detail_a: Tensor, detail_b: Tensor,
                        offset: float = 1.01) -> Tensor:
    """cc(D_a, D_b)^2 / (offset + cc(B_a, B_b)); offset > 1 keeps the denominator positive."""
    return correlation(detail_a, detail_b) ** 2 / (offset + correlation(base_a, base_b))


class DecompositionLoss(LossTerm):
    """CDDFuse's ``cc(detail_a, detail_b)^2 / (1.01 + cc(base_a, base_b))`` on encoder features."""

    name = "decomposition"
    needs_features = True

    def __init__(self, weight: float = 2.0, split: str = "levels", kernel: int = 5, offset: float = 1.01) -> None:
        super().__init__(weight)
        if split not in SPLITS:
            raise ConfigError(f"decomposition split must be one of {SPLITS}, got {split!r}")
        if kernel < 2 or kernel % 2 == 0:
            raise ConfigError(f"decomposition kernel must be an odd number >= 3, got {kernel}")
        if offset <= 1:
            raise ConfigError(f"decomposition offset must be > 1 (cc can reach -1), got {offset}")
        self.split, self.kernel, self.offset = split, kernel, float(offset)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        fa = [f.float() for f in get_features(batch, "features_a", self.name)]
        fb = [f.float() for f in get_features(batch, "features_b", self.name)]
        if self.split == "levels":
            if len(fa) < 2:
                raise ConfigError(f"loss term {self.name!r}: split='levels' needs a backbone with >= 2 levels, "
                                 f"got {len(fa)}; use split='lowpass'")
            return decomposition_ratio(fa[-1], fb[-1], fa[0], fb[0], self.offset)
        values = []
        for xa, xb in zip(fa, fb):
            ba, bb = box_lowpass(xa, self.kernel), box_lowpass(xb, self.kernel)
            values.append(decomposition_ratio(ba, bb, xa - ba, xb - bb, self.offset))
        return torch.stack(values).mean()

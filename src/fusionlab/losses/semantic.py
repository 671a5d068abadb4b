"""Semantic-entropy: how undecided a frozen semantic model is about the fused image, to be *lowered*.

Our design of DECC's "low semantic-entropy expectation" (Liu et al., CVPR 2026; no public code, so the
model, posterior and normalisation here are ours). A frozen encoder maps the fused image to features
z(u) at each location u; the posterior over K prototypes (class centres) is a cosine softmax

    p_k(u) = softmax_k( <z(u)/|z(u)|, c_k/|c_k|> / tau ),   loss = mean_u H(p(u)) / log K   in [0, 1]

so the loss is 0 when every location is assigned confidently to one prototype and 1 when it is
undecided between all of them. Fusion that blurs or muddles structures raises it.

The semantic model is frozen (no gradient into it, eval mode always) but differentiable, so the
gradient reaches the fused image. By default it is a small random-init conv encoder with random
prototypes drawn from a fixed seed (deterministic, offline, no weights to ship): a fixed set of
multi-scale filters whose responses should be unambiguous, but no semantics. A learned prior:
``pretrained`` names one shipped with fusionlab (the tiny encoder pre-trained cross-modally on infrared-visible
pairs, with its prototypes: :mod:`fusionlab.losses.semantic_prior`), ``weights`` a prior file that
``python -m fusionlab.pretrain_semantic`` wrote (or a plain state dict of the tiny encoder); or give ``model`` (a
timm name, built with ``pretrained=False``) and ``weights`` (a local file), and optionally ``prototypes`` (a
saved (K, C) tensor, e.g. class centres or a segmentation head's weights). Nothing is downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm

TINY = "tiny"


class TinySemanticEncoder(nn.Module):
    """Three stride-2 conv stages (1 -> 16 -> 32 -> 64 channels, 1/8 resolution); ~70 k parameters.

    Random-init on purpose (a fixed bank of multi-scale filters): no biases and a variance-preserving
    init, so the features depend on the image rather than on constant offsets, and a linear last layer,
    so they are signed and spread over the sphere the prototypes live on.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), standardize: bool = False) -> None:
        """``standardize``: each image enters as (x - mean) / (std + 0.05) instead of 2x - 1, so the features
        follow the image's structure, not its exposure (a night infrared-visible pair has mean ~0.06: centred
        only, every location's features point the same way). The learned prior is trained this way."""
        super().__init__()
        self.standardize = bool(standardize)
        layers: list[nn.Module] = []
        cin = 1
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, 2, 1, bias=False, padding_mode="reflect"), nn.GELU(),
                       nn.Conv2d(w, w, 3, 1, 1, bias=False, padding_mode="reflect"), nn.GELU()]
            cin = w
        self.body = nn.Sequential(*layers[:-1])
        for m in self.body.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        self.out_channels = cin

    def forward(self, x: Tensor) -> Tensor:
        if self.standardize:
            mean, std = x.mean((-1, -2), keepdim=True), x.std((-1, -2), keepdim=True)
            return self.body((x - mean) / (std + 0.05))
        return self.body(x * 2 - 1)  # centre [0, 1] images


class _TimmEncoder(nn.Module):
    """A timm model's last requested feature map on the gray image replicated to RGB, normalised with the
    model's own mean and std."""

    def __init__(self, name: str, weights: str | None, out_index: int, **kwargs: Any) -> None:
        super().__init__()
        import timm

        overlay = {"file": str(weights)} if weights else None
        self.net = timm.create_model(name, pretrained=weights is not None, pretrained_cfg_overlay=overlay,
                                     features_only=True, out_indices=(out_index,), **kwargs)
        cfg = self.net.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1),
                             persistent=False)
        self.out_channels = int(self.net.feature_info.channels()[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x.expand(-1, 3, -1, -1) - self.mean) / self.std)[-1]


class SemanticEntropyLoss(LossTerm):
    """Mean per-location entropy of prototype posteriors of a frozen semantic model on F, / log K."""

    name = "semantic_entropy"

    def __init__(self, weight: float = 1.0, model: str = TINY, weights: str | None = None,
                 prototypes: int | str = 16, temperature: float = 0.05, seed: int = 0, out_index: int = 2,
                 model_kwargs: dict[str, Any] | None = None, pretrained: str | None = None) -> None:
        super().__init__(weight)
        from fusionlab.losses.semantic_prior import load_prior, prior_path

        if temperature <= 0:
            raise ConfigError(f"semantic_entropy temperature must be > 0, got {temperature}")
        if pretrained is not None:
            if weights is not None or model != TINY:
                raise ConfigError(f"semantic_entropy: pretrained={pretrained} is a whole prior (the tiny encoder "
                                  "and its prototypes); leave weights=null and model=tiny with it")
            weights = str(prior_path(pretrained))
        if weights is not None and not Path(weights).is_file():
            raise FileNotFoundError(f"semantic_entropy weights file not found: {weights} (nothing is downloaded)")
        prior = load_prior(weights) if weights is not None and model == TINY else None
        if prior is not None:
            if isinstance(prototypes, str):
                raise ConfigError(f"semantic_entropy: {weights} is a prior file with its own prototypes; "
                                  f"drop prototypes={prototypes}")
            prototypes = len(prior["prototypes"])
        self.temperature = float(temperature)
        # Seeded construction that leaves the global RNG untouched (a loss must not shift the run's seed).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if model == TINY:
                self.encoder: nn.Module = TinySemanticEncoder(**(prior or {}).get("meta", {}).get("encoder", {}))
                if prior is not None:
                    self.encoder.load_state_dict(prior["encoder"])
                elif weights:
                    self.encoder.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            else:
                self.encoder = _TimmEncoder(model, weights, out_index, **(model_kwargs or {}))
            channels = int(self.encoder.out_channels)
            if prior is not None:
                protos = prior["prototypes"].float()
            elif isinstance(prototypes, str):
                protos = torch.load(prototypes, map_location="cpu", weights_only=True).float()
                if protos.ndim != 2 or protos.shape[1] != channels:
                    raise ConfigError(f"semantic_entropy prototypes must be a (K, {channels}) tensor, "
                                     f"got {tuple(protos.shape)} from {prototypes}")
            else:
                if int(prototypes) < 2:
                    raise ConfigError(f"semantic_entropy needs >= 2 prototypes, got {prototypes}")
                protos = torch.randn(int(prototypes), channels)
        self.register_buffer("prototypes", F.normalize(protos, dim=1))
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> SemanticEntropyLoss:
        """The semantic model stays in eval mode (no BN statistics updates, no dropout) whatever the module."""
        super().train(mode)
        self.encoder.eval()
        return self

    def posterior(self, image: Tensor) -> Tensor:
        """(B, K, h, w) prototype posteriors of a (B, 1, H, W) image."""
        z = F.normalize(self.encoder(image), dim=1)
        logits = torch.einsum("bchw,kc->bkhw", z, self.prototypes.to(z.dtype)) / self.temperature
        return logits.softmax(1)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        p = self.posterior(fused)
        h = -(p * p.clamp_min(1e-12).log()).sum(1)
        return h.mean() / math.log(p.shape[1])

"""The loss-term contract and the Objective that sums weighted terms and reports every part.

An ablation is a config change: ``loss.terms.<name>.weight=0`` skips a term (it is then neither
computed nor logged), removing it from ``loss.terms`` drops it altogether.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from fusionlab.errors import ConfigError


class LossTerm(nn.Module):
    """A named, weighted term. Subclasses implement ``compute(fused, batch) -> scalar``.

    Terms compute in float32 even under bf16/fp16 autocast: SSIM and gradient magnitudes lose too
    much precision in half formats for the small differences late in training.
    """

    name: str = "term"
    needs_reconstruction: bool = False  # True: the term reads batch["rec_a"/"rec_b"] (the lower level, phi)
    needs_features: bool = False  # True: the term reads batch["features_a"/"features_b"/"fused_features"]

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        weight = float(weight)
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"loss weight must be a finite number >= 0, got {weight} for term {self.name!r}")
        self.weight = weight

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def forward(self, fused: Tensor, batch: Mapping) -> Tensor:
        with torch.autocast(device_type=fused.device.type, enabled=False):
            return self.compute(fused.float(), batch)


class Objective(nn.Module):
    """Weighted sum of loss terms; returns ``(total, {name: unweighted value})``."""

    def __init__(self, terms: Mapping[str, LossTerm]) -> None:
        super().__init__()
        if not terms:
            raise ConfigError("loss.terms is empty: configure at least one loss term")
        for key, term in terms.items():
            if not isinstance(term, LossTerm):
                raise TypeError(f"loss.terms.{key} must be a fusionlab LossTerm, got {type(term).__name__}")
            term.name = key
        self.terms = nn.ModuleDict(dict(terms))
        if all(t.weight == 0 for t in self.terms.values()):
            raise ConfigError("every loss weight is 0: nothing to optimise (set loss.terms.<name>.weight > 0)")

    @property
    def needs_reconstruction(self) -> bool:
        return any(t.needs_reconstruction and t.weight > 0 for t in self.terms.values())

    @property
    def needs_features(self) -> bool:
        return any(t.needs_features and t.weight > 0 for t in self.terms.values())

    def feature_terms(self) -> list[str]:
        """Active terms that read the model's features (named in start-up errors)."""
        return [k for k, t in self.terms.items() if t.needs_features and t.weight > 0]

    def split(self) -> tuple[Objective | None, Objective | None]:
        """(reconstruction objective, fusion objective): the two levels of bilevel training."""
        rec = {k: t for k, t in self.terms.items() if t.needs_reconstruction and t.weight > 0}
        fuse = {k: t for k, t in self.terms.items() if not t.needs_reconstruction and t.weight > 0}
        return (Objective(rec) if rec else None), (Objective(fuse) if fuse else None)

    def forward(self, fused: Tensor, batch: Mapping) -> tuple[Tensor, dict[str, Tensor]]:
        total = fused.new_zeros((), dtype=torch.float32)
        parts: dict[str, Tensor] = {}
        for key, term in self.terms.items():
            if term.weight == 0:
                continue
            value = term(fused, batch)
            parts[key] = value.detach()
            total = total + term.weight * value
        return total, parts

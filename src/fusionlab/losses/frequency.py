"""Frequency-aware decoupling: semantic terms on the low band, pixel-detail terms on the high band.

Our design of DECC's "frequency-aware feature decoupling" (Liu et al., CVPR 2026; no public code). The
paper's claim is that semantic content and pixel detail live in different frequency bands and should
be constrained separately so the two paths trade off instead of fighting. We realise it in the loss:

    L_freq = sum_i w_i * l_i(F_low; A_low, B_low) + sum_j w_j * h_j(F_high; A_high, B_high)

with X_low = G_sigma * X (a Gaussian low-pass; or an ideal FFT mask of radius ``cutoff`` cycles/pixel)
and X_high = X - X_low. ``low``/``high`` are ordinary loss terms (any LossTerm, e.g. semantic entropy
on the low band; :class:`DetailLoss` and the gradient loss on the high band), applied to a batch whose
``a``/``b``/``target`` are replaced by the band. A wrapper rather than dedicated band terms: any term
becomes band-limited by configuration, and ``split=none`` applies both groups to the full image, which
is the ablation "same terms, no decoupling". The parts of the last call are kept in ``last_parts``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm

SPLITS = ("gaussian", "fft", "none")


def gaussian_lowpass(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur (radius 3 sigma) with reflect padding, same size."""
    radius = max(1, math.ceil(3 * sigma))
    coords = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    y = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode=mode), g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(y, (0, 0, radius, radius), mode=mode), g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def fft_lowpass(x: Tensor, cutoff: float) -> Tensor:
    """Ideal low-pass: keep frequencies with radius <= ``cutoff`` (cycles/pixel, 0..0.5)."""
    h, w = x.shape[-2:]
    fy = torch.fft.fftfreq(h, device=x.device).view(-1, 1)
    fx = torch.fft.rfftfreq(w, device=x.device).view(1, -1)
    mask = ((fy**2 + fx**2).sqrt() <= cutoff).to(x.dtype)
    return torch.fft.irfft2(torch.fft.rfft2(x) * mask, s=(h, w))


def split_bands(x: Tensor, split: str = "gaussian", sigma: float = 2.0, cutoff: float = 0.1) -> tuple[Tensor, Tensor]:
    """(low, high) with low + high == x."""
    if split == "none":
        return x, x
    low = gaussian_lowpass(x, sigma) if split == "gaussian" else fft_lowpass(x, cutoff)
    return low, x - low


class DetailLoss(LossTerm):
    """L1(F, choose-max-abs(A, B)): the classical detail-layer fusion rule as a loss.

    Meant for the high band inside :class:`FrequencyDecoupledLoss`, where A and B are signed detail
    layers and the one with the larger magnitude carries the edge (on full [0, 1] images it is max(A, B)).
    """

    name = "detail"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__(weight)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        a, b = batch["a"].float(), batch["b"].float()
        return F.l1_loss(fused, torch.where(a.abs() >= b.abs(), a, b))


class FrequencyDecoupledLoss(LossTerm):
    """Applies the ``low`` terms to the low band and the ``high`` terms to the high band (see module doc).

    The value is the sum of the sub-terms' weighted values; the effective weight of a sub-term is
    ``loss.terms.<this>.weight * <sub>.weight``. A sub-term with weight 0 is skipped (ablation).
    """

    name = "frequency"

    def __init__(self, weight: float = 1.0, low: Mapping[str, LossTerm] | None = None,
                 high: Mapping[str, LossTerm] | None = None, split: str = "gaussian", sigma: float = 2.0,
                 cutoff: float = 0.1) -> None:
        super().__init__(weight)
        if split not in SPLITS:
            raise ConfigError(f"frequency split must be one of {SPLITS}, got {split!r}")
        if sigma <= 0 or not 0 < cutoff <= 0.5:
            raise ConfigError(f"frequency split needs sigma > 0 and 0 < cutoff <= 0.5, got {sigma}, {cutoff}")
        low, high = dict(low or {}), dict(high or {})
        if not low and not high:
            raise ConfigError("frequency: give at least one term in 'low' or 'high'")
        for band, terms in (("low", low), ("high", high)):
            for key, term in terms.items():
                if not isinstance(term, LossTerm):
                    raise TypeError(f"frequency.{band}.{key} must be a fusionlab LossTerm, got {type(term).__name__}")
                if term.needs_reconstruction:
                    raise ConfigError(f"frequency.{band}.{key}: reconstruction terms belong to the lower level, "
                                     "not inside a band wrapper")
                term.name = f"{band}.{key}"
        self.low, self.high = nn.ModuleDict(low), nn.ModuleDict(high)
        self.split, self.sigma, self.cutoff = split, float(sigma), float(cutoff)
        self.needs_features = any(getattr(t, "needs_features", False) for t in (*low.values(), *high.values()))
        self.last_parts: dict[str, Tensor] = {}

    def bands(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return split_bands(x, self.split, self.sigma, self.cutoff)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        keys = [k for k in ("a", "b", "target") if batch.get(k) is not None]
        split = {k: self.bands(batch[k].float()) for k in keys}
        f_low, f_high = self.bands(fused)
        total = fused.new_zeros(())
        parts: dict[str, Tensor] = {}
        for band, terms, f in (("low", self.low, f_low), ("high", self.high, f_high)):
            if not any(t.weight > 0 for t in terms.values()):
                continue
            i = 0 if band == "low" else 1
            banded = {**batch, **{k: split[k][i] for k in keys}}
            for key, term in terms.items():
                if term.weight == 0:
                    continue
                value = term(f, banded)
                parts[f"{band}.{key}"] = value.detach()
                total = total + term.weight * value
        self.last_parts = parts
        return total

"""Histogram information measures: EN (entropy of F), MI (mutual information of F with each source) and CE.

Histograms are built for the whole batch at once with one ``bincount`` over offset bin indices, so the
code is the same on CPU and GPU; the per-image histograms and levels come from the shared
:class:`~fusionlab.metrics.shared.Intermediates`, so EN, MI and CE build them once.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fusionlab.metrics.shared import LEVELS, Intermediates, ensure
from fusionlab.metrics.shared import histogram as _histogram


def _entropy(counts: Tensor, log_base: float) -> Tensor:
    """Entropy of each row of a histogram, with 0 log 0 = 0 (``xlogy``)."""
    p = counts / counts.sum(dim=1, keepdim=True)
    return -torch.special.xlogy(p, p).sum(dim=1) / math.log(log_base)


def en(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Shannon entropy (bits) of the 256-level histogram of F; identical in both conventions."""
    return _entropy(ensure(cache, f, a, b).histogram("f"), 2.0)


def _minmax_levels(x: Tensor) -> Tensor:
    """VIFB ``mutinf``: ``int16((x - min) / (max - min) * 255)`` (halves away from zero); constant -> 0."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    span = torch.where(hi > lo, hi - lo, 1.0)
    stretched = torch.floor((x - lo) / span * 255.0 + 0.5)
    return torch.where(hi > lo, stretched, 0.0).long().flatten(1)


def _mi_pair(cache: Intermediates, src: str, convention: str) -> Tensor:
    """MI(S, F) = H(S) + H(F) - H(S, F).

    ``cddfuse`` (sklearn ``mutual_info_score``): nats, clipped at 0. ``tang`` (Qu's ``Hab.m`` run on uint8):
    bits, and the joint histogram indexes ``uint8(x) + 1``, which saturates, so levels 254 and 255 share a
    bin in the joint histogram only. ``vifb`` (VIFB ``metricsMutinf.m``): nats, after stretching each image
    to 0..255 (a no-op for images that span 0..255).
    """
    if convention == "vifb":
        s_lv, f_lv = _minmax_levels(cache.images[src]), _minmax_levels(cache.images["f"])
        h_s, h_f = _entropy(_histogram(s_lv, LEVELS), math.e), _entropy(_histogram(f_lv, LEVELS), math.e)
    else:
        s_lv, f_lv = cache.levels(src), cache.levels("f")
        base = 2.0 if convention == "tang" else math.e
        h_s, h_f = _entropy(cache.histogram(src), base), _entropy(cache.histogram("f"), base)
    if convention == "tang":
        s_lv, f_lv = s_lv.clamp(max=LEVELS - 2), f_lv.clamp(max=LEVELS - 2)
        h_sf = _entropy(_histogram(s_lv * LEVELS + f_lv, LEVELS * LEVELS), 2.0)
        return h_s + h_f - h_sf
    h_sf = _entropy(_histogram(s_lv * LEVELS + f_lv, LEVELS * LEVELS), math.e)
    mi = h_s + h_f - h_sf
    return mi if convention == "vifb" else mi.clamp(min=0.0)


def mi(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """MI(A, F) + MI(B, F): nats for ``cddfuse``, bits with the 254/255 joint-bin merge for ``tang``,
    nats of min-max stretched images for ``vifb``."""
    cache = ensure(cache, f, a, b)
    return _mi_pair(cache, "a", convention) + _mi_pair(cache, "b", convention)


def _cross_entropy(p_s: Tensor, p_f: Tensor) -> Tensor:
    """sum_g p_S(g) log2(p_S(g) / p_F(g)) over the levels where both histograms are non-zero."""
    p_s, p_f = p_s / p_s.sum(dim=1, keepdim=True), p_f / p_f.sum(dim=1, keepdim=True)
    both = (p_s > 0) & (p_f > 0)
    ratio = torch.where(both, p_s / torch.where(both, p_f, 1.0), 1.0)
    return torch.where(both, p_s * torch.log2(ratio), 0.0).sum(dim=1)


def ce(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Cross-entropy of the sources' gray-level histograms against F's, averaged (VIFB/MEFB; lower is better).

    VIFB ``metricsCross_entropy.m`` (after Bulanon et al. 2009): levels where either histogram is empty are
    skipped, so it is not a true KL divergence (it can be negative).
    """
    cache = ensure(cache, f, a, b)
    h_f = cache.histogram("f")
    return (_cross_entropy(cache.histogram("a"), h_f) + _cross_entropy(cache.histogram("b"), h_f)) / 2

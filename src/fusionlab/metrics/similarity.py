"""SSIM-based fusion metrics of Liu et al.'s toolbox (TPAMI 2012) as MEFB runs them: Qy, Qc and Piella's family.

* ``Qy`` (Yang et al., Inf. Fusion 2008; ``metricYang.m`` = MEFB ``metricsQy.m``) and ``Qc`` (Cvejic et al.,
  IJSP 2005; ``metricCvejic.m`` case 2 = MEFB ``metricsQc.m``) share SSIM maps with a 7x7 Gaussian window
  (sigma 1.5), 'valid', and C1 = C2 = 2e-16.
* ``Qs``, ``Qw``, ``Qe`` (Piella & Heijmans, ICIP 2003; ``metricPeilla.m`` cases 1-3) use Wang's SSIM (11x11
  Gaussian sigma 1.5, 'valid', K = (0.01, 0.03), L = 255) in place of the paper's Q0, and the Gaussian-weighted
  local variance as saliency; where both source variances are 0, 0.5 is added to both.
  ``Qw_mefb`` is what MEFB reports as "Qw": Q_W of the Prewitt edge images (Liu's case 3 with its undefined
  factor ``Q`` removed), so ``Qe = Qw * Qw_mefb`` (alpha = 1).

Constant windows: the codes compute variances as E[x^2] - E[x]^2, whose rounding noise on a constant window
(~1e-11, either sign) decides Qy and Qc there because of their 2e-16 constants. Every local statistic is
evaluated as exact arithmetic gives it (:func:`~fusionlab.metrics._ops.local_moments`), then the toolbox's
rules apply to the resulting 0/0 cases: the window is dropped in Qy and Qc (NaN, left out of the mean, as MEFB
does) and lambda = 0.5 in Piella's metrics.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import correlate3x3, gaussian_1d, image_mean, image_sum, local_moments
from fusionlab.metrics.shared import Intermediates, ensure

_YANG_C = 2e-16
_WANG_C1, _WANG_C2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
_MIN_SIZE = 11  # ssim_yang / ssim_index return -Inf below 11x11: NaN here
_PREWITT_X = [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]]
_PREWITT_Y = [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]]


def _ssim_map(mx: Tensor, my: Tensor, vx: Tensor, vy: Tensor, cxy: Tensor, c1: float, c2: float) -> Tensor:
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def _nan_batch(f: Tensor) -> Tensor:
    return torch.full((f.shape[0],), float("nan"), dtype=f.dtype, device=f.device)


def yang_cvejic(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> dict[str, Tensor]:
    """Qy and Qc from one set of 7x7 local moments of (a, b, f) (the sources' part shared through ``cache``)."""
    if min(f.shape[-2:]) < _MIN_SIZE:
        return {"Qy": _nan_batch(f), "Qc": _nan_batch(f)}
    fixed = (ensure(cache, f, a, b).source, "sources", 2)
    (ma, mb, mf), (va, vb, vf), cov = local_moments(
        [a, b, f], [(0, 1), (0, 2), (1, 2)], gaussian_1d(7, 1.5, f), fixed=fixed
    )
    s_ab = _ssim_map(ma, mb, va, vb, cov[(0, 1)], _YANG_C, _YANG_C)
    s_af = _ssim_map(ma, mf, va, vf, cov[(0, 2)], _YANG_C, _YANG_C)
    s_bf = _ssim_map(mb, mf, vb, vf, cov[(1, 2)], _YANG_C, _YANG_C)

    # Qy: where a and b are similar, weight by their relative variance; elsewhere keep the better match.
    lam = va / (va + vb)  # 0/0 where a and b are both constant: NaN, and (as NaN * 0) NaN in either branch
    qy = torch.where(s_ab >= 0.75, lam * s_af + (1 - lam) * s_bf, torch.maximum(s_af, s_bf))
    qy = torch.where(torch.isnan(lam), torch.nan, qy)

    # Qc: the toolbox clips the combined value (not the weight) where the weight leaves [0, 1].
    sim = cov[(0, 2)] / (cov[(0, 2)] + cov[(1, 2)])
    qc = sim * s_af + (1 - sim) * s_bf
    qc = torch.where(sim < 0, 0.0, torch.where(sim > 1, 1.0, qc))
    return {"Qy": qy.flatten(1).nanmean(dim=1), "Qc": qc.flatten(1).nanmean(dim=1)}


def qy(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Yang's Q_Y: SSIM with each source, weighted where the sources agree, best-of where they differ."""
    return yang_cvejic(f, a, b, convention, cache)["Qy"]


def qc(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Cvejic's Q_C: SSIM with each source, weighted by the local covariance of each source with F."""
    return yang_cvejic(f, a, b, convention, cache)["Qc"]


def _piella(f: Tensor, a: Tensor, b: Tensor, cache: Intermediates, key: str) -> tuple[Tensor, Tensor]:
    """(Q_S, Q_W) of Piella's metric with Liu's SSIM, per image (``key`` names (a, b) in the source store)."""
    (ma, mb, mf), (va, vb, vf), cov = local_moments(
        [a, b, f], [(0, 2), (1, 2)], gaussian_1d(11, 1.5, f), fixed=(cache.source, key, 2)
    )
    s_fa = _ssim_map(mf, ma, vf, va, cov[(0, 2)], _WANG_C1, _WANG_C2)
    s_fb = _ssim_map(mf, mb, vf, vb, cov[(1, 2)], _WANG_C1, _WANG_C2)
    flat = (va + vb) == 0  # both sources constant: lambda = 0.5 and a small weight in Q_W
    va, vb = torch.where(flat, va + 0.5, va), torch.where(flat, vb + 0.5, vb)
    lam = va / (va + vb)
    q = lam * s_fa + (1 - lam) * s_fb
    weight = torch.maximum(va, vb)
    return image_mean(q), image_sum(weight * q) / image_sum(weight)


def prewitt_magnitude(x: Tensor) -> Tensor:
    """sqrt(gx^2 + gy^2) of ``filter2`` with the Prewitt kernels of ``metricPeilla.m`` ('same', zero padding)."""
    gx = correlate3x3(x, _PREWITT_X, "zeros")
    gy = correlate3x3(x, _PREWITT_Y, "zeros")
    return torch.sqrt(gx * gx + gy * gy)


def _edges(f: Tensor, cache: Intermediates) -> tuple[Tensor, Tensor, Tensor]:
    """Prewitt edge images (a', b', f'); the sources' come from the source store."""
    a, b = cache.images["a"], cache.images["b"]
    ea, eb = cache.source("prewitt", lambda: prewitt_magnitude(torch.cat([a, b]))).chunk(2)
    return ea, eb, prewitt_magnitude(f)


def piella(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> dict[str, Tensor]:
    """Qs, Qw, Qw_mefb (Q_W of the Prewitt edge images) and Qe = Qw * Qw_mefb in one pass."""
    if min(f.shape[-2:]) < _MIN_SIZE:
        return {name: _nan_batch(f) for name in ("Qs", "Qw", "Qe", "Qw_mefb")}
    cache = ensure(cache, f, a, b)
    ea, eb, ef = _edges(f, cache)
    qs, qw = _piella(f, a, b, cache, "sources")
    _, qw_edges = _piella(ef, ea, eb, cache, "prewitt")
    return {"Qs": qs, "Qw": qw, "Qe": qw * qw_edges, "Qw_mefb": qw_edges}


def qs(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Piella's fusion quality index Q_S: saliency-weighted mean of SSIM(F, A) and SSIM(F, B)."""
    if min(f.shape[-2:]) < _MIN_SIZE:
        return _nan_batch(f)
    return _piella(f, a, b, ensure(cache, f, a, b), "sources")[0]


def qw(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Piella's weighted fusion quality index Q_W: Q_S with windows weighted by the larger source variance."""
    if min(f.shape[-2:]) < _MIN_SIZE:
        return _nan_batch(f)
    return _piella(f, a, b, ensure(cache, f, a, b), "sources")[1]


def qe(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Piella's edge-dependent fusion quality index Q_E = Q_W(a, b, f) * Q_W(a', b', f') (alpha = 1)."""
    return piella(f, a, b, convention, cache)["Qe"]


def qw_mefb(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """MEFB's "Qw": Q_W of the Prewitt edge images (a', b', f') = Qe / Qw."""
    if min(f.shape[-2:]) < _MIN_SIZE:
        return _nan_batch(f)
    cache = ensure(cache, f, a, b)
    ea, eb, ef = _edges(f, cache)
    return _piella(ef, ea, eb, cache, "prewitt")[1]

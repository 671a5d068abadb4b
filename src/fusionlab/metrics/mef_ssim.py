"""MEF-SSIM (Ma, Zeng, Wang, IEEE TIP 24(11) 2015) and its 3-level form MEF-MS-SSIM, as the authors' code.

Reproduces ``mef_ssim.m`` / ``mef_ms_ssim.m`` (shipped in xingchenzhang/MEFB ``metrics/``), whose per-window
loops are rewritten in closed form: for the window centred at c, the desired patch is
``r = s * sum_k alpha_k (x_k - mu_k)`` with ``alpha_k = w_k / ed_k`` and the rescaling ``s = max_k ed_k / |r|``,
so every statistic of r is a combination of local moments of the sources:

* ``|r|^2 = s'^2 * 121 * sum_kl alpha_k alpha_l cov_box(x_k, x_l)`` (11x11 box window),
* ``var_g(r) = s^2 sum_kl alpha_k alpha_l cov_g(x_k, x_l)``, ``cov_g(r, f) = s sum_k alpha_k cov_g(x_k, f)``
  (11x11 Gaussian window, sigma 1.5).

Conventions of the code (not all in the paper): sources ``{a, b}`` are the reference sequence; signal strength
``ed_k = sqrt(max(121 var_k, 0)) + 0.001``; structural consistency ``R = (|sum_k x_k - mean| + eps) /
(sum_k |x_k - mu_k| + eps)``, with R > 1 -> 1 - eps; ``p = min(tan(pi R / 2), 10)``; weights
``(ed_k / 11)^p + eps``, normalised; r is left at 0 where its norm is 0; ``q = (2 cov(r, f) + C) / (var(r) +
var(f) + C)``, ``C = (0.03 * 255)^2``; no luminance term; score = mean of q over the 'valid' positions.
MEF-MS-SSIM: 3 levels, weights (0.0448, 0.2856, 0.3001) normalised, score = prod Q_l^w_l, with a 2x2 block
mean between levels (``imfilter(x, ones(2)/4, 'symmetric')``, odd rows/columns kept; an odd last row or column
is mirrored); NaN when min(H, W) / 4 < 11 (MATLAB returns -Inf). ``MEF_SSIM`` = Q_1 of that computation.
**MEFB reports MEF-MS-SSIM under the name "MEF_SSIM"** (``metricsMEF_SSIM.m`` calls ``mef_ms_ssim``).

Local statistics of a source that is constant on a window are taken as exactly 0 (see ``_ops.local_moments``),
and where ``a + b`` is constant on a window (``a = c - b``, so R = 0, equal weights) the desired patch is exactly
0. The MATLAB loop gets rounding noise in both cases; in the second one the noise leaves unequal weights and a
noise patch rescaled to norm ``max ed``, which changes that window's q by O(1) (on mef/ICCV_01 the plain formula
is off by 1.2e-6 relative, one window of the mean; the exact treatment agrees with the shared reference to 1.4e-7).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.metrics._ops import constant_windows, gaussian_1d, image_mean, local_moments, separable_filter
from fusionlab.metrics.shared import Intermediates

_WIN = 11
_C = (0.03 * 255.0) ** 2
_EPS = torch.finfo(torch.float64).eps  # MATLAB eps
_LEVEL_WEIGHTS = (0.0448, 0.2856, 0.3001)


def _desired_patch(a: Tensor, b: Tensor) -> tuple[Tensor, ...]:
    """What the sequence (a, b) alone fixes at one level: per window the scale ``s`` and weights ``alpha_k`` of
    the desired patch, its variance, the flat masks of a and b, and their Gaussian means (raw) for the cross
    moments with F."""
    n = float(_WIN * _WIN)
    flat = list(constant_windows(torch.cat([a, b, a + b]), _WIN).split(a.shape[0]))  # shared by both windows
    flat_sum = flat.pop()  # a + b constant: a - mu_a = -(b - mu_b), equal weights, so r = 0 exactly
    (_, _), (va, vb), cab = local_moments([a, b], [(0, 1)], [1.0 / _WIN] * _WIN, flat=flat)
    taps = gaussian_1d(_WIN, 1.5, a).tolist()
    (_, _), (ga, gb), cg = local_moments([a, b], [(0, 1)], taps, flat=flat)
    raw_means = separable_filter(torch.cat([a, b]), taps).chunk(2)
    norm_a, norm_b = torch.sqrt(n * va), torch.sqrt(n * vb)  # |x_k - mu_k| over the box window
    ed_a, ed_b = norm_a + 0.001, norm_b + 0.001
    norm_sum = torch.sqrt((n * (va + vb + 2 * cab[(0, 1)])).clamp(min=0))  # |sum_k x_k - mean|
    norm_sum = torch.where(flat_sum, 0.0, norm_sum)
    r = (norm_sum + _EPS) / (norm_a + norm_b + _EPS)
    r = torch.where(r > 1, 1 - _EPS, r)
    p = torch.tan(math.pi / 2 * r).clamp(max=10.0)
    w_a = (ed_a / _WIN) ** p + _EPS
    w_b = (ed_b / _WIN) ** p + _EPS
    total = w_a + w_b
    al_a, al_b = w_a / total / ed_a, w_b / total / ed_b
    norm_r2 = n * (al_a * al_a * va + al_b * al_b * vb + 2 * al_a * al_b * cab[(0, 1)])
    positive = (norm_r2 > 0) & ~flat_sum
    s = torch.where(positive, torch.maximum(ed_a, ed_b) / torch.sqrt(torch.where(positive, norm_r2, 1.0)), 0.0)
    var_r = s * s * (al_a * al_a * ga + al_b * al_b * gb + 2 * al_a * al_b * cg[(0, 1)])
    return s, al_a, al_b, var_r, flat[0], flat[1], raw_means[0], raw_means[1]


def _mef_ssim_level(f: Tensor, a: Tensor, b: Tensor, cache: Intermediates | None = None, level: int = 0) -> Tensor:
    """Single-scale MEF-SSIM of F against the sequence (a, b), per image; NaN if smaller than 11x11.

    The desired patch depends on (a, b) only: with a ``cache`` it is kept in the source store per ``level``.
    """
    if min(f.shape[-2:]) < _WIN:
        return torch.full((f.shape[0],), float("nan"), dtype=f.dtype, device=f.device)
    build = functools.partial(_desired_patch, a, b)
    s, al_a, al_b, var_r, flat_a, flat_b, mu_a, mu_b = build() if cache is None else cache.source(("mef", level), build)
    # F's Gaussian moments and its covariances with a and b, as local_moments computes them
    taps = gaussian_1d(_WIN, 1.5, f).tolist()
    mu_f, sq_f, cr_a, cr_b = separable_filter(torch.cat([f, f * f, a * f, b * f]), taps).chunk(4)
    flat_f = constant_windows(f, _WIN)
    gf = torch.where(flat_f, 0.0, (sq_f - mu_f * mu_f).clamp(min=0))
    cov_af = torch.where(flat_a | flat_f, 0.0, cr_a - mu_a * mu_f)
    cov_bf = torch.where(flat_b | flat_f, 0.0, cr_b - mu_b * mu_f)
    cov_rf = s * (al_a * cov_af + al_b * cov_bf)
    q = (2 * cov_rf + _C) / (var_r + gf + _C)
    return image_mean(q)


def _halve(x: Tensor) -> Tensor:
    """``imfilter(x, ones(2)/4, 'symmetric', 'same')`` then ``x(1:2:end, 1:2:end)``: 2x2 block means."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


def mef_ssim_levels(
    f: Tensor, a: Tensor, b: Tensor, levels: int = len(_LEVEL_WEIGHTS), cache: Intermediates | None = None
) -> list[Tensor]:
    """Q_l of MEF-MS-SSIM for l = 1..levels (the first one is single-scale MEF-SSIM)."""
    out = [_mef_ssim_level(f, a, b, cache, 0)]
    for level in range(1, levels):
        f, a, b = (_halve(x) for x in (f, a, b))
        out.append(_mef_ssim_level(f, a, b, cache, level))
    return out


def mef_family(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> dict[str, Tensor]:
    """MEF_SSIM and MEF_MSSSIM from one multi-scale pass (MEF_SSIM is its first level)."""
    if min(f.shape[-2:]) / 2 ** (len(_LEVEL_WEIGHTS) - 1) < _WIN:
        single = _mef_ssim_level(f, a, b, cache, 0)
        return {"MEF_SSIM": single, "MEF_MSSSIM": torch.full_like(single, float("nan"))}
    q = mef_ssim_levels(f, a, b, cache=cache)
    weights = torch.tensor(_LEVEL_WEIGHTS, dtype=f.dtype, device=f.device)
    weights = weights / weights.sum()
    ms = torch.prod(torch.stack(q) ** weights.view(-1, 1), dim=0)
    return {"MEF_SSIM": q[0], "MEF_MSSSIM": ms}


def mef_ssim(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Single-scale MEF-SSIM of F with the sources as the exposure sequence (higher is better)."""
    return _mef_ssim_level(f, a, b, cache, 0)


def mef_msssim(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """3-level MEF-MS-SSIM, the number MEFB reports as "MEF_SSIM"; NaN if min(H, W) < 44."""
    return mef_family(f, a, b, convention, cache)["MEF_MSSSIM"]

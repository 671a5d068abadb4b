"""Edge metrics from Sobel gradients: Qabf (Xydeas-Petrovic), Nabf (Shreyamsha Kumar's artifacts) and EI.

The two come from different codes and differ in every detail that matters (Sobel scale, padding, angle
formula, sigmoid constants, weights), so each follows its own reference exactly:
``analysis_Qabf.m`` / CDDFuse ``Evaluator.Qabf`` and ``objective_fusion_perform_fn`` / ``analysis_nabf.m``.

Speed: the Sobel responses come from the shared :class:`~fusionlab.metrics.shared.Intermediates` in float32,
where integer images give exact integer responses, so every equality and threshold test of the references
decides exactly as in float64; the smooth per-pixel terms are float32 too and the sums float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import HALF_PI, correlate3x3, image_mean
from fusionlab.metrics.shared import Intermediates, ensure

# Qabf: conv2(img, h, 'same') -- a true convolution with zero padding. The sign convention matters because
# the angle is fixed to pi/2 (not atan's +-pi/2 limit) where the x response is exactly 0.
_QABF_HX = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
_QABF_HY = [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]
# Nabf: sobel_fn correlates these /8 kernels with a mirror-extended image (edge pixel not repeated).
_NABF_V = [[-1 / 8, 0.0, 1 / 8], [-2 / 8, 0.0, 2 / 8], [-1 / 8, 0.0, 1 / 8]]
_NABF_H = [[-1 / 8, -2 / 8, -1 / 8], [0.0, 0.0, 0.0], [1 / 8, 2 / 8, 1 / 8]]
# EI: MATLAB fspecial('sobel') and its transpose, imfilter (correlation) with replicate padding.
_EI_Y = [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]
_EI_X = [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]


def _sum64(x: Tensor) -> Tensor:
    return x.sum(dim=(-3, -2, -1), dtype=torch.float64)


def _qabf_strength_angle(cache: Intermediates, name: str) -> tuple[Tensor, Tensor]:
    def build() -> tuple[Tensor, Tensor]:
        # conv2(x, h_x) = -(correlation with h_x) = -gx; conv2(x, h_y) = gy (see shared.sobel3x3).
        gx, sy = cache.sobel(name, "zeros")
        sx = -gx
        g = torch.sqrt(sx * sx + sy * sy)
        alpha = torch.atan(sy / sx).masked_fill_(sx == 0, HALF_PI)  # the 0/0 and +-inf there are overwritten
        return g, alpha

    return build() if name == "f" else cache.source(("qabf_strength_angle", name), build)


def _qabf_preservation(g_s: Tensor, a_s: Tensor, g_f: Tensor, a_f: Tensor) -> Tensor:
    # Every public code sets G = g_F (not 1) where g_S == g_F; kept for agreement with published numbers.
    ratio = torch.minimum(g_s, g_f).div_(torch.maximum(g_s, g_f))  # min/max; 0/0 only where equal
    ratio = torch.where(g_s == g_f, g_f, ratio)
    orient = (a_s - a_f).abs_().mul_(-1 / HALF_PI).add_(1)
    q_g = torch.sigmoid(ratio.sub_(0.5).mul_(15))  # 0.9994 / (1 + exp(-15 (ratio - 0.5)))
    q_a = torch.sigmoid(orient.sub_(0.8).mul_(22))
    return q_g.mul_(q_a).mul_(0.9994 * 0.9879)


def qabf(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Q^AB/F: gradient-strength-weighted preservation of source edges in F (L = 1)."""
    cache = ensure(cache, f, a, b)
    g_a, a_a = _qabf_strength_angle(cache, "a")
    g_b, a_b = _qabf_strength_angle(cache, "b")
    g_f, a_f = _qabf_strength_angle(cache, "f")
    num = _sum64(_qabf_preservation(g_a, a_a, g_f, a_f) * g_a + _qabf_preservation(g_b, a_b, g_f, a_f) * g_b)
    return num / _sum64(g_a + g_b)


def _nabf_angle(gv: Tensor, gh: Tensor) -> Tensor:
    both_zero = (gv == 0) & (gh == 0)
    return torch.where(both_zero, 0.0, torch.atan(gv / gh))  # gh == 0 alone gives atan(+-inf) = +-pi/2


def _nabf_preservation(g_s: Tensor, a_s: Tensor, g_f: Tensor, a_f: Tensor) -> Tensor:
    undefined = (g_s == 0) | (g_f == 0)
    ratio = torch.where(
        g_s > g_f, g_f / torch.where(undefined, 1.0, g_s), g_s / torch.where(undefined, 1.0, g_f)
    )
    ratio = torch.where(undefined, 0.0, ratio)
    orient = ((a_s - a_f).abs() - HALF_PI).abs() / HALF_PI
    q_g = 0.9999 / (1 + torch.exp(-19 * (ratio - 0.5)))
    q_a = 0.9995 / (1 + torch.exp(-22 * (orient - 0.5)))
    return torch.sqrt(q_g * q_a)


def nabf(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """N^AB/F (modified): weighted loss of preservation where F's gradient exceeds both sources' (artifacts).

    The reference's gradients are the shared Sobel responses / 8. Squared magnitudes of the unscaled
    responses are exact integers in float32, so the artifact mask and the ``g >= 2`` weight test are exact;
    the loss terms (1 - Q, often ~1e-7) are evaluated in float64 on the artifact pixels only.
    """
    cache = ensure(cache, f, a, b)
    (gv_a, gh_a), (gv_b, gh_b), (gv_f, gh_f) = (cache.sobel(n, "reflect") for n in ("a", "b", "f"))
    m_a, m_b, m_f = gv_a * gv_a + gh_a * gh_a, gv_b * gv_b + gh_b * gh_b, gv_f * gv_f + gh_f * gh_f
    # g >= 2  <=>  (8 g)^2 >= 256; w = g^1.5 = (m / 64)^0.75
    w_a = torch.where(m_a >= 256, (m_a / 64).pow(0.75), 0.001)
    w_b = torch.where(m_b >= 256, (m_b / 64).pow(0.75), 0.001)
    den = _sum64(w_a + w_b)
    artifact = ((m_f > m_a) & (m_f > m_b)).flatten(1)
    item = artifact.nonzero()[:, 0]  # batch index of each artifact pixel

    def at(x: Tensor) -> Tensor:
        return x.flatten(1)[artifact].to(torch.float64) / 8

    gv_a, gh_a, gv_b, gh_b, gv_f, gh_f = (at(x) for x in (gv_a, gh_a, gv_b, gh_b, gv_f, gh_f))
    g_a, g_b, g_f = (torch.sqrt(gh * gh + gv * gv) for gv, gh in ((gv_a, gh_a), (gv_b, gh_b), (gv_f, gh_f)))
    al_a, al_b, al_f = _nabf_angle(gv_a, gh_a), _nabf_angle(gv_b, gh_b), _nabf_angle(gv_f, gh_f)
    q_af = _nabf_preservation(g_a, al_a, g_f, al_f)
    q_bf = _nabf_preservation(g_b, al_b, g_f, al_f)
    loss = (1 - q_af) * torch.where(g_a >= 2, g_a.pow(1.5), 0.001) + (1 - q_bf) * torch.where(
        g_b >= 2, g_b.pow(1.5), 0.001
    )
    num = torch.zeros_like(den).index_add_(0, item, loss)
    return num / den


def ei(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Edge intensity (VIFB/MEFB ``metricsEdge_intensity.m``): mean Sobel gradient magnitude of F."""
    gx = correlate3x3(f, _EI_X, "replicate")
    gy = correlate3x3(f, _EI_Y, "replicate")
    return image_mean(torch.sqrt(gx * gx + gy * gy))

"""Edge metrics from Sobel gradients: Qabf (Xydeas-Petrovic), Nabf (Shreyamsha Kumar's artifacts) and EI.

The two come from different codes and differ in every detail that matters (Sobel scale, padding, angle
formula, sigmoid constants, weights), so each follows its own reference exactly:
``analysis_Qabf.m`` / CDDFuse ``Evaluator.Qabf`` and ``objective_fusion_perform_fn`` / ``analysis_nabf.m``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import HALF_PI, convolve3x3, correlate3x3, image_mean, image_sum

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


def _qabf_strength_angle(x: Tensor) -> tuple[Tensor, Tensor]:
    sx = convolve3x3(x, _QABF_HX)
    sy = convolve3x3(x, _QABF_HY)
    g = torch.sqrt(sx * sx + sy * sy)
    zero = sx == 0
    alpha = torch.where(zero, HALF_PI, torch.atan(sy / torch.where(zero, 1.0, sx)))
    return g, alpha


def _qabf_preservation(g_s: Tensor, a_s: Tensor, g_f: Tensor, a_f: Tensor) -> Tensor:
    # Every public code sets G = g_F (not 1) where g_S == g_F; kept for agreement with published numbers.
    ratio = torch.where(
        g_s > g_f, g_f / torch.where(g_s > g_f, g_s, 1.0), g_s / torch.where(g_s < g_f, g_f, 1.0)
    )
    ratio = torch.where(g_s == g_f, g_f, ratio)
    orient = 1 - (a_s - a_f).abs() / HALF_PI
    q_g = 0.9994 / (1 + torch.exp(-15 * (ratio - 0.5)))
    q_a = 0.9879 / (1 + torch.exp(-22 * (orient - 0.8)))
    return q_g * q_a


def qabf(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Q^AB/F: gradient-strength-weighted preservation of source edges in F (L = 1)."""
    g_a, a_a = _qabf_strength_angle(a)
    g_b, a_b = _qabf_strength_angle(b)
    g_f, a_f = _qabf_strength_angle(f)
    num = image_sum(
        _qabf_preservation(g_a, a_a, g_f, a_f) * g_a + _qabf_preservation(g_b, a_b, g_f, a_f) * g_b
    )
    return num / image_sum(g_a + g_b)


def _nabf_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    gv = correlate3x3(x, _NABF_V, "reflect")
    gh = correlate3x3(x, _NABF_H, "reflect")
    g = torch.sqrt(gh * gh + gv * gv)
    both_zero = (gv == 0) & (gh == 0)
    alpha = torch.where(both_zero, 0.0, torch.atan(gv / gh))  # gh == 0 alone gives atan(+-inf) = +-pi/2
    return g, alpha


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


def nabf(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """N^AB/F (modified): weighted loss of preservation where F's gradient exceeds both sources' (artifacts)."""
    g_a, a_a = _nabf_gradients(a)
    g_b, a_b = _nabf_gradients(b)
    g_f, a_f = _nabf_gradients(f)
    q_af = _nabf_preservation(g_a, a_a, g_f, a_f)
    q_bf = _nabf_preservation(g_b, a_b, g_f, a_f)
    w_a = torch.where(g_a >= 2, g_a.pow(1.5), 0.001)
    w_b = torch.where(g_b >= 2, g_b.pow(1.5), 0.001)
    artifact = (g_f > g_a) & (g_f > g_b)
    num = image_sum(torch.where(artifact, (1 - q_af) * w_a + (1 - q_bf) * w_b, 0.0))
    return num / image_sum(w_a + w_b)


def ei(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Edge intensity (VIFB/MEFB ``metricsEdge_intensity.m``): mean Sobel gradient magnitude of F."""
    gx = correlate3x3(f, _EI_X, "replicate")
    gy = correlate3x3(f, _EI_Y, "replicate")
    return image_mean(torch.sqrt(gx * gx + gy * gy))

"""Human-perception metrics from Liu's toolbox as VIFB ships them: Qcb (Chen-Blum) and Qcv (Chen-Varshney).

Both min-max stretch each image to 0..255 (``normalize1``), filter with a contrast sensitivity function in the
frequency domain on MATLAB's ``freqspace`` grid, and work on the resulting perceived contrast or error.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import (
    block_reduce,
    correlate3x3,
    fft_filter,
    freqspace_radius,
    gaussian_1d,
    image_mean,
    image_sum,
    minmax_255,
    separable_filter,
)

# Chen-Blum: DoG CSF and local band-limited contrast.
_F0, _F1, _A = 15.3870, 1.3456, 0.7622
_P, _Q, _Z = 3, 2, 1e-4
# Chen-Varshney: 16x16 regions, saliency exponent 5.
_WINDOW, _ALPHA = 16, 5


def _local_contrast(x: Tensor) -> Tensor:
    """|G_2 * I / G_4 * I - 1| with unnormalised 31x31 Gaussians (zero padding), then C^3 / (C^2 + Z)."""
    g2 = gaussian_1d(31, 2.0, x, normalize=False)
    g4 = gaussian_1d(31, 4.0, x, normalize=False)
    # exp(-(x^2+y^2)/2s^2) / (2 pi s^2) = g(x) g(y) / (2 pi s^2)
    fine = separable_filter(x, g2, padding="zeros") / (2 * torch.pi * 4.0)
    coarse = separable_filter(x, g4, padding="zeros") / (2 * torch.pi * 16.0)
    c = (fine / coarse - 1).abs()
    return c**_P / (c**_Q + _Z)


def qcb(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Chen-Blum Q_CB: saliency-weighted preservation of perceived local contrast (higher is better)."""
    bsz = f.shape[0]
    h, w = f.shape[-2:]
    imgs = minmax_255(torch.cat([a, b, f], dim=0))
    r = freqspace_radius(h, w, h / 30.0, w / 30.0, imgs)
    csf = torch.exp(-((r / _F0) ** 2)) - _A * torch.exp(-((r / _F1) ** 2))
    c = _local_contrast(fft_filter(imgs, csf))
    ca, cb, cf = c[:bsz], c[bsz : 2 * bsz], c[2 * bsz :]

    def preservation(cs: Tensor) -> Tensor:
        return torch.where(cs < cf, cs / cf, cf / cs)

    lam_a = ca * ca / (ca * ca + cb * cb)
    lam_b = cb * cb / (ca * ca + cb * cb)
    return image_mean(lam_a * preservation(ca) + lam_b * preservation(cb))


def qcv(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Chen-Varshney Q_CV: region-saliency-weighted CSF-filtered squared error (lower is better)."""
    bsz = f.shape[0]
    h, w = f.shape[-2:]
    imgs = minmax_255(torch.cat([a, b, f], dim=0))
    src, fused = imgs[: 2 * bsz], imgs[2 * bsz :].repeat(2, 1, 1, 1)
    gx = correlate3x3(src, [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], "zeros")
    gy = correlate3x3(src, [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]], "zeros")
    saliency = block_reduce(torch.sqrt(gx * gx + gy * gy) ** _ALPHA, _WINDOW, mean=False)
    r = freqspace_radius(h, w, h / 8.0, w / 8.0, imgs)
    csf = 2.6 * (0.0192 + 0.144 * r) * torch.exp(-((0.144 * r) ** 1.1))
    err = fft_filter(src - fused, csf)
    dist = block_reduce(err * err, _WINDOW, mean=True)
    num = image_sum(saliency[:bsz] * dist[:bsz] + saliency[bsz:] * dist[bsz:])
    return num / image_sum(saliency[:bsz] + saliency[bsz:])

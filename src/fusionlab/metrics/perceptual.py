"""Human-perception metrics from Liu's toolbox as VIFB ships them: Qcb (Chen-Blum) and Qcv (Chen-Varshney).

Both min-max stretch each image to 0..255 (``normalize1``), filter with a contrast sensitivity function in the
frequency domain on MATLAB's ``freqspace`` grid, and work on the resulting perceived contrast or error.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import (
    block_reduce,
    fft_filter,
    freqspace_radius,
    gaussian_1d,
    image_mean,
    image_sum,
    minmax_255,
    separable_filter,
)
from fusionlab.metrics.shared import Intermediates, ensure, sobel3x3

# Chen-Blum: DoG CSF and local band-limited contrast.
_F0, _F1, _A = 15.3870, 1.3456, 0.7622
_P, _Q, _Z = 3, 2, 1e-4
# Chen-Varshney: 16x16 regions, saliency exponent 5.
_WINDOW, _ALPHA = 16, 5


def _local_contrast(x: Tensor) -> Tensor:
    """|G_2 * I / G_4 * I - 1| with unnormalised 31x31 Gaussians (zero padding), then C^3 / (C^2 + Z).

    ``x`` may be float32 (see :func:`qcb`); the taps are float64 either way.
    """
    g2 = gaussian_1d(31, 2.0, torch.empty(0, dtype=torch.float64), normalize=False).tolist()
    g4 = gaussian_1d(31, 4.0, torch.empty(0, dtype=torch.float64), normalize=False).tolist()
    # exp(-(x^2+y^2)/2s^2) / (2 pi s^2) = g(x) g(y) / (2 pi s^2)
    fine = separable_filter(x, g2, padding="zeros").div_(2 * torch.pi * 4.0)
    coarse = separable_filter(x, g4, padding="zeros").div_(2 * torch.pi * 16.0)
    c = fine.div_(coarse).sub_(1).abs_().to(torch.float64)  # float64 on: C^3 underflows float32 for C < 1e-13
    c2 = c * c  # C^P / (C^Q + Z) with P = 3, Q = 2
    return c2.mul(c).div_(c2.add_(_Z))


def qcb(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Chen-Blum Q_CB: saliency-weighted preservation of perceived local contrast (higher is better)."""
    h, w = f.shape[-2:]
    cache = ensure(cache, f, a, b)
    r = freqspace_radius(h, w, h / 30.0, w / 30.0, f)
    csf = torch.exp(-((r / _F0) ** 2)) - _A * torch.exp(-((r / _F1) ** 2))

    # The CSF filter is global (FFT): float64, so its rounding stays ~1e-16 of the image's range even where the
    # image is black. The Gaussians are local sums: float32 there rounds relative to the local values only.
    def contrast(x: Tensor) -> Tensor:
        return _local_contrast(fft_filter(x, csf).to(torch.float32))

    ca, cb = cache.source("qcb_contrast", lambda: contrast(cache.stretched_sources())).chunk(2)
    cf = contrast(minmax_255(f))

    def preservation(cs: Tensor) -> Tensor:  # 1 where equal, also 0 == 0 (float32 makes exact zeros common)
        return torch.where(cs == cf, 1.0, torch.where(cs < cf, cs / cf, cf / cs))

    pa, pb = preservation(ca), preservation(cb)
    ca2, cb2 = ca * ca, cb * cb
    total = ca2 + cb2
    q = (ca2 / total).mul_(pa).add_((cb2 / total).mul_(pb))
    q = torch.where(total > 0, q, pa)  # both sources 0: pa == pb, whatever the weights
    return image_mean(q)


def qcv(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """Chen-Varshney Q_CV: region-saliency-weighted CSF-filtered squared error (lower is better).

    Float32 up to the 16x16 block sums (float64 from there): the stretched images are integers, so the Sobel
    responses and the differences are exact, and the FFT filter and g^5 round at ~1e-7 (tolerance 1e-3).
    """
    bsz = f.shape[0]
    h, w = f.shape[-2:]
    cache = ensure(cache, f, a, b)
    src = cache.stretched_sources().to(torch.float32)
    fused = minmax_255(f).to(torch.float32).repeat(2, 1, 1, 1)

    def source_saliency() -> Tensor:
        gx, gy = sobel3x3(src, "zeros")
        return block_reduce((gx * gx + gy * gy).pow_(_ALPHA / 2).to(torch.float64), _WINDOW, mean=False)

    saliency = cache.source("qcv_saliency", source_saliency)
    r = freqspace_radius(h, w, h / 8.0, w / 8.0, src)  # float32 like the images
    csf = 2.6 * (0.0192 + 0.144 * r) * torch.exp(-((0.144 * r) ** 1.1))
    err = fft_filter(src - fused, csf)
    dist = block_reduce((err * err).to(torch.float64), _WINDOW, mean=True)
    num = image_sum(saliency[:bsz] * dist[:bsz] + saliency[bsz:] * dist[bsz:])
    return num / image_sum(saliency[:bsz] + saliency[bsz:])

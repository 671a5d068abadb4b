"""Structural similarity in the three forms fusion papers use, named after the code they reproduce.

* ``ssim_skimage``: scikit-image ``structural_similarity`` defaults (7x7 uniform window, sample covariance,
  mean over fully covered windows). CDDFuse ran it on float images with scikit-image 0.19, which took the
  data range from the dtype (-1..1), i.e. **data_range = 2** on 0..255 images: the ``cddfuse`` SSIM.
* ``ssim_matlab``: MATLAB ``ssim`` (11x11 Gaussian sigma 1.5, replicate padding, mean of the full map) with
  DynamicRange 1 as it applies to double input: the ``tang`` SSIM, averaged over the two sources.
* ``ssim_gaussian`` / ``ms_ssim``: Wang's Gaussian 11/1.5 'valid' SSIM as in ``pytorch_msssim``, data range
  255; MS-SSIM over 5 scales. Summed over the sources it is the ``vifb`` SSIM (VIFB ``metricsSsim.m``).

Speed: on 8-bit images the ``cddfuse`` SSIM takes its 7x7 window sums in float32, where sums of at most 49
products of integers <= 255^2 are exact, and forms the (co)variances from those exact sums in float64. MS-SSIM
filters float32 images: its constants (C1 = 6.5, C2 = 58.5 on 0..255) dwarf the float32 rounding of the local
variances (~1e-2), so the values stay within ~1e-7 of float64 (the tolerance is 1e-4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.metrics._ops import box_filter, gaussian_1d, separable_filter
from fusionlab.metrics.shared import Intermediates, ensure

_K1, _K2 = 0.01, 0.03
_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _moments(x: Tensor, y: Tensor, filt) -> tuple[Tensor, ...]:
    """Local means, variances and covariance with one batched filtering call.

    ``y`` may stack k sources against one ``x`` (batch k*B vs B): the fused image's moments are then
    filtered once and shared, which is what makes SSIM(F, A) + SSIM(F, B) cheaper than two calls. The
    results are shaped ``(k, B, 1, h, w)`` for the pair terms and ``(1, B, 1, h, w)`` for x's (broadcasting,
    no copies); :func:`_per_image` flattens a map of them back to ``(k*B,)``.
    """
    n, ny = x.shape[0], y.shape[0]
    k = ny // n
    buf = torch.empty((2 * n + 3 * ny, *x.shape[1:]), dtype=x.dtype, device=x.device)
    parts = buf.split([n, ny, n, ny, ny])
    parts[0].copy_(x)
    parts[1].copy_(y)
    torch.mul(x, x, out=parts[2])
    torch.mul(y, y, out=parts[3])
    torch.mul(y.unflatten(0, (k, n)), x, out=parts[4].unflatten(0, (k, n)))
    mx, my, mxx, myy, mxy = (p.unflatten(0, (-1, n)) for p in filt(buf).split([n, ny, n, ny, ny]))
    return mx, my, mxx.sub_(mx * mx), myy.sub_(my * my), mxy.sub_(mx * my)


def _per_image(s: Tensor) -> Tensor:
    """Mean of each ``(k, B, 1, h, w)`` map -> ``(k*B,)`` float64 (source-major, as the stacked ``y``)."""
    return s.mean(dim=(-3, -2, -1), dtype=torch.float64).flatten()


def ssim_skimage(x: Tensor, y: Tensor, data_range: float = 2.0, win_size: int = 7) -> Tensor:
    """scikit-image ``structural_similarity`` (defaults) per image; see the module doc for ``data_range=2``.

    ``y`` may stack several sources against one ``x`` (see :func:`_moments`); same for the functions below.
    """
    cov_norm = win_size * win_size / (win_size * win_size - 1.0)
    mx, my, vx, vy, vxy = _moments(x, y, lambda t: box_filter(t, win_size))
    vx, vy, vxy = cov_norm * vx, cov_norm * vy, cov_norm * vxy
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return _per_image(s)


def ssim_skimage_exact(cache: Intermediates, win_size: int = 7, data_range: float = 2.0) -> Tensor:
    """:func:`ssim_skimage` of F against A and B stacked ``(2B,)``, from exact window sums (8-bit images only).

    Window sums of integers are exact in float32 (at most 49 * 255^2 = 3.2e6 < 2^24), and the (co)variance
    numerators ``n S_xy - S_x S_y`` are exact in int32 (< 1.6e8). Multiplying the SSIM fraction through by
    n^2 (n - 1) leaves only products and sums of those exact integers, so float32 rounds each factor once
    (~1e-7) and no cancellation is left; a window where both images are flat gives exactly C2 / C2.
    """
    f, a, b = (cache.images[k] for k in ("f", "a", "b"))
    bsz, n = f.shape[0], win_size * win_size
    stack = torch.empty((8 * bsz, *f.shape[1:]), dtype=torch.float32, device=f.device)
    parts = stack.split(bsz)
    for part, x in zip(parts[:3], (f, a, b)):
        part.copy_(x)
    for part, (x, y) in zip(parts[3:], ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2))):
        torch.mul(parts[x], parts[y], out=part)
    sums = separable_filter(stack, [1.0] * win_size).to(torch.int32).split(bsz)
    s_f, s_a, s_b, s_ff, s_aa, s_bb, s_fa, s_fb = sums
    d_f = (n * s_ff - s_f * s_f).to(torch.float32)
    c1 = (_K1 * data_range) ** 2 * n * n
    c2 = (_K2 * data_range) ** 2 * n * (n - 1)
    sf32, sf2 = s_f.to(torch.float32), (s_f * s_f).to(torch.float32)
    out = []
    for s_y, s_yy, s_fy in ((s_a, s_aa, s_fa), (s_b, s_bb, s_fb)):
        d_y = (n * s_yy - s_y * s_y).to(torch.float32)
        d_fy = (n * s_fy - s_f * s_y).to(torch.float32)
        sy32 = s_y.to(torch.float32)
        num = (2 * sf32 * sy32 + c1).mul_(d_fy.mul_(2).add_(c2))
        den = (sy32.mul_(sy32).add_(sf2).add_(c1)).mul_(d_y.add_(d_f).add_(c2))
        out.append(num.div_(den).mean(dim=(-3, -2, -1), dtype=torch.float64))
    return torch.cat(out)


def ssim_matlab(x: Tensor, y: Tensor, dynamic_range: float = 1.0) -> Tensor:
    """MATLAB ``ssim(A, B)`` on double images: Gaussian sigma 1.5 (11x11), replicate padding, mean of the map."""
    taps = gaussian_1d(11, 1.5, x)
    mx, my, vx, vy, vxy = _moments(x, y, lambda t: separable_filter(t, taps, padding="replicate"))
    c1, c2 = (_K1 * dynamic_range) ** 2, (_K2 * dynamic_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return _per_image(s)


def _ssim_cs(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Gaussian 11/1.5 'valid' SSIM and contrast-structure term, as ``pytorch_msssim._ssim``; float64 means."""
    taps = gaussian_1d(11, 1.5, torch.empty(0, dtype=torch.float64)).tolist()
    mx, my, vx, vy, vxy = _moments(x, y, lambda t: separable_filter(t, taps))
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    cs = (2 * vxy + c2) / (vx + vy + c2)
    s = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return _per_image(s), _per_image(cs)


def ssim_gaussian(x: Tensor, y: Tensor, data_range: float = 255.0) -> Tensor:
    """Wang et al.'s SSIM with an 11x11 Gaussian (sigma 1.5), 'valid' windows, population variances."""
    return _ssim_cs(x, y, data_range)[0]


def ms_ssim_pair(x: Tensor, y: Tensor, data_range: float = 255.0) -> Tensor:
    """MS-SSIM (Wang 2003) as ``pytorch_msssim.ms_ssim``; NaN when min(H, W) <= 160 (4 halvings of 11x11).

    ``y`` may stack several sources against one ``x`` (see :func:`_moments`). Float32 inputs are filtered in
    float32 and the per-level means are float64.
    """
    if min(x.shape[-2:]) <= 10 * 2**4:
        return torch.full((y.shape[0],), float("nan"), dtype=torch.float64, device=x.device)
    factors = []
    for level in range(len(_MS_WEIGHTS)):
        s, cs = _ssim_cs(x, y, data_range)
        if level < len(_MS_WEIGHTS) - 1:
            factors.append(cs.clamp(min=0))
            pad = [d % 2 for d in x.shape[-2:]]
            x = F.avg_pool2d(x, 2, padding=pad)
            y = F.avg_pool2d(y, 2, padding=pad)
    factors.append(s.clamp(min=0))
    weights = torch.tensor(_MS_WEIGHTS, dtype=torch.float64, device=x.device).view(-1, 1)
    return torch.prod(torch.stack(factors).to(torch.float64) ** weights, dim=0)


def ssim(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """``cddfuse``: SSIM(F,A) + SSIM(F,B) with scikit-image 0.19 defaults; ``tang``: mean of MATLAB ``ssim``;
    ``vifb``: sum of Wang's Gaussian 11/1.5 'valid' SSIM with L = 255 (VIFB ``metricsSsim.m``)."""
    if convention == "vifb":
        both = ssim_gaussian(f, torch.cat([a, b]), data_range=255.0)
        return both[: f.shape[0]] + both[f.shape[0] :]
    if convention == "tang":
        both = ssim_matlab(f, torch.cat([a, b]))
        return (both[: f.shape[0]] + both[f.shape[0] :]) / 2
    cache = ensure(cache, f, a, b)
    if cache.integral and min(f.shape[-2:]) >= 7:
        both = ssim_skimage_exact(cache)
    else:
        both = ssim_skimage(f, torch.cat([a, b]))
    return both[: f.shape[0]] + both[f.shape[0] :]


def ms_ssim(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> Tensor:
    """MS-SSIM(F, A) + MS-SSIM(F, B), data range 255 (computed in float32, see the module doc)."""
    f32, a32, b32 = (x.to(torch.float32) for x in (f, a, b))
    both = ms_ssim_pair(f32, torch.cat([a32, b32]))
    return both[: f.shape[0]] + both[f.shape[0] :]

"""Phase-congruency fusion metric Q_P (Zhao, Laganiere, Liu, IJICIC 3(6) 2007), as Liu's toolbox computes it.

Follows ``metricZhao.m`` + ``myphasecong3.m`` (= MEFB ``metricsQp.m``): Kovesi's phasecong2 as modified by Liu,
with log-Gabor filters (4 scales, 6 orientations, minimum wavelength 3, mult 2.1, sigma_onf 0.55,
dtheta/sigma 1.2), noise compensation k = 2 with the PC_2 rescaling 1/1.7, frequency-spread weighting
(cutOff 0.5, g 10), a Butterworth low-pass (0.45, order 15), all in the FFT domain (periodic borders).
Outputs per image: PC and the maximum / minimum moments M, m of the PC covariance.

Quirks kept for agreement: the low-pass grid is ``fftshift``-ed (the others ``ifftshift``-ed; the two differ
by one sample on odd sizes); the noise median is MATLAB's (mean of the two middle values); the per-scale
filter statistics of the noise model are recomputed per orientation (the ``if o == 1`` is commented out).
``Q_P = P_p * P_M * P_m``; each factor is ``sum max(rho_a, rho_b, rho_max) / #{PC_max > 0.1}`` with the local
correlation ``rho = (cov_xf + 1e-4) / (sqrt|var_x var_f| + 1e-4)`` from an 11x11 Gaussian (sigma 1.5),
``filter2 'same'`` (zero padding); source maps are zeroed outside their own ``PC > 0.1`` mask (F's is not);
"max" takes the maps of the source with the larger PC (B on ties); rho counts only inside its mask.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from fusionlab.metrics._ops import gaussian_1d, separable_filter

_NSCALE, _NORIENT = 4, 6
_MIN_WAVELENGTH, _MULT, _SIGMA_ONF, _DTHETA_ON_SIGMA = 3.0, 2.1, 0.55, 1.2
_K, _CUTOFF, _G = 2.0, 0.5, 10.0
_EPSILON = 1e-4
_FEATURE_THRESHOLD = 0.1
_C = 1e-4


def _axis(n: int, like: Tensor) -> Tensor:
    """``myphasecong3``'s normalised frequency axis (odd and even sizes handled as the code does)."""
    k = torch.arange(n, dtype=like.dtype, device=like.device)
    return (k - (n - 1) / 2) / (n - 1) if n % 2 else (k - n // 2) / n


@lru_cache(maxsize=2)
def _filters(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[list[list[Tensor]], list[Tensor]]:
    """Log-Gabor filters [orientation][scale] and the per-orientation noise statistics of the filter bank.

    They depend on the image size only, so consecutive batches of one dataset share them (cached).
    """
    like = torch.empty(0, device=device, dtype=dtype)
    y, x = torch.meshgrid(_axis(h, like), _axis(w, like), indexing="ij")
    radius = torch.sqrt(x * x + y * y)
    radius[h // 2, w // 2] = 1.0  # no log(0) at the zero frequency
    theta = torch.fft.ifftshift(torch.atan2(-y, x))
    radius = torch.fft.ifftshift(radius)
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)

    ly = (torch.arange(h, dtype=like.dtype, device=like.device) - (h // 2)) / h
    lx = (torch.arange(w, dtype=like.dtype, device=like.device) - (w // 2)) / w
    lr = torch.sqrt(lx.view(1, w) ** 2 + ly.view(h, 1) ** 2)
    lowpass = torch.fft.fftshift(1.0 / (1.0 + (lr / 0.45) ** (2 * 15)))

    log_gabor = []
    for s in range(_NSCALE):
        fo = 1.0 / (_MIN_WAVELENGTH * _MULT**s)
        lg = torch.exp(-(torch.log(radius / fo) ** 2) / (2 * math.log(_SIGMA_ONF) ** 2)) * lowpass
        lg[0, 0] = 0.0
        log_gabor.append(lg)

    theta_sigma = math.pi / _NORIENT / _DTHETA_ON_SIGMA
    bank, noise = [], []
    for o in range(_NORIENT):
        angle = o * math.pi / _NORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = torch.exp(-(torch.atan2(ds, dc).abs() ** 2) / (2 * theta_sigma**2))
        filters = [lg * spread for lg in log_gabor]
        spatial = torch.fft.ifft2(torch.stack(filters)).real * math.sqrt(h * w)
        sum_an2 = (spatial**2).sum()
        sum_aiaj = sum((spatial[i] * spatial[j]).sum() for i in range(_NSCALE) for j in range(i + 1, _NSCALE))
        em_n = (filters[0] ** 2).sum()
        noise.append(torch.stack([em_n, sum_an2, sum_aiaj]))
        bank.append(filters)
    return bank, noise


def _matlab_median(x: Tensor) -> Tensor:
    """Median over the last dimension, the mean of the two middle values for even counts (torch's is the lower).

    One selection (``kthvalue``) for the lower middle; the upper middle is the next larger value, or the same one
    when it repeats.
    """
    n = x.shape[-1]
    lower = x.kthvalue((n + 1) // 2, dim=-1).values
    if n % 2:
        return lower
    repeats = (x <= lower[..., None]).sum(dim=-1) > n // 2
    above = torch.where(x > lower[..., None], x, torch.inf).amin(dim=-1)
    return (lower + torch.where(repeats, lower, above)) / 2


def phase_congruency(img: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(PC, M, m) of ``myphasecong3`` for a ``(N, 1, H, W)`` float64 batch."""
    h, w = img.shape[-2:]
    bank, noise = _filters(h, w, img.device, img.dtype)
    spectrum = torch.fft.fft2(img)
    zero = torch.zeros_like(img)
    total_energy, total_an = zero.clone(), zero.clone()
    covx2, covy2, covxy = zero.clone(), zero.clone(), zero.clone()
    for o in range(_NORIENT):
        angle = o * math.pi / _NORIENT
        evens, odds = [], []
        sum_an, sum_e, sum_o = zero.clone(), zero.clone(), zero.clone()
        for s, filt in enumerate(bank[o]):
            eo = torch.fft.ifft2(spectrum * filt)
            even, odd = eo.real, eo.imag
            power = even * even + odd * odd  # |EO|^2 without complex abs (hypot), which is 3x slower
            amplitude = power.sqrt()
            if s == 0:
                power_first, max_an = power, amplitude
            else:
                max_an = torch.maximum(max_an, amplitude)
            sum_an += amplitude
            sum_e += even
            sum_o += odd
            evens.append(even)
            odds.append(odd)
        x_energy = torch.sqrt(sum_e * sum_e + sum_o * sum_o) + _EPSILON
        mean_e, mean_o = sum_e.div_(x_energy), sum_o.div_(x_energy)
        energy = zero.clone()
        for even, odd in zip(evens, odds):
            energy += even * mean_e + odd * mean_o - (even * mean_o - odd * mean_e).abs()
        del evens, odds

        em_n, sum_an2, sum_aiaj = noise[o]
        median_e2n = _matlab_median(power_first.flatten(1)).view(-1, 1, 1, 1)
        noise_power = -median_e2n / math.log(0.5) / em_n
        tau = torch.sqrt((2 * noise_power * sum_an2 + 4 * noise_power * sum_aiaj) / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + _K * torch.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
        energy = (energy - threshold).clamp(min=0)

        width = sum_an / (max_an + _EPSILON) / _NSCALE
        weight = 1.0 / (1 + torch.exp((_CUTOFF - width) * _G))
        total_an += sum_an
        total_energy += weight * energy
        pc = weight * energy / sum_an
        covx, covy = pc * math.cos(angle), pc * math.sin(angle)
        covx2 += covx * covx
        covy2 += covy * covy
        covxy += covx * covy

    pc = total_energy / (total_an + _EPSILON)
    covx2, covy2, covxy = covx2 / (_NORIENT / 2), covy2 / (_NORIENT / 2), covxy / _NORIENT
    denom = torch.sqrt(covxy**2 + (covx2 - covy2) ** 2) + _EPSILON
    return pc, (covy2 + covx2 + denom) / 2, (covy2 + covx2 - denom) / 2


def _feature_agreement(maps: list[Tensor], masks: list[Tensor], fused: Tensor) -> Tensor:
    """``correlation_coeffcient`` of ``metricZhao.m``: masked local correlations with F, best of three, mean."""
    taps = gaussian_1d(11, 1.5, fused)
    maps = [torch.where(m, x, 0.0) for x, m in zip(maps, masks)]
    k = len(maps)
    stack = torch.cat([*maps, fused, *(x * x for x in maps), fused * fused, *(x * fused for x in maps)])
    moments = separable_filter(stack, taps, padding="zeros").split(fused.shape[0])
    mu, sq, cross = moments[: k + 1], moments[k + 1 : 2 * k + 2], moments[2 * k + 2 :]
    var_f = sq[k] - mu[k] * mu[k]
    rhos = []
    for i in range(k):  # 0 outside the source's mask, as the toolbox's zero-initialised result maps
        var = sq[i] - mu[i] * mu[i]
        rho = (cross[i] - mu[i] * mu[k] + _C) / (torch.sqrt((var * var_f).abs()) + _C)
        rhos.append(torch.where(masks[i], rho, 0.0))
    best = torch.stack(rhos).amax(dim=0)
    return best.flatten(1).sum(dim=1) / masks[-1].flatten(1).sum(dim=1)


def qp(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Zhao's Q_P: how well F keeps the sources' phase-congruency features (PC, max and min moments)."""
    bsz = f.shape[0]
    pc, big, small = (t.split(bsz) for t in phase_congruency(torch.cat([a, b, f])))
    pick_a = pc[0] > pc[1]
    pc_max = torch.where(pick_a, pc[0], pc[1])
    masks = [pc[0] > _FEATURE_THRESHOLD, pc[1] > _FEATURE_THRESHOLD, pc_max > _FEATURE_THRESHOLD]
    result = torch.ones(bsz, dtype=f.dtype, device=f.device)
    for feature in (pc, big, small):
        maximum = torch.where(pick_a, feature[0], feature[1])
        result = result * _feature_agreement([feature[0], feature[1], maximum], masks, feature[2])
    return result

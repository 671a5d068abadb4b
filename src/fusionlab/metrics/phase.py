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

Precision: filters and noise model are built in float64, the maps (FFT responses, PC, moments, local
statistics) are float32 (:data:`_DTYPE`), the per-image sums and the result float64.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from fusionlab.metrics._ops import gaussian_1d, separable_filter
from fusionlab.metrics.shared import Intermediates, ensure

_NSCALE, _NORIENT = 4, 6
_MIN_WAVELENGTH, _MULT, _SIGMA_ONF, _DTHETA_ON_SIGMA = 3.0, 2.1, 0.55, 1.2
_K, _CUTOFF, _G = 2.0, 0.5, 10.0
_EPSILON = 1e-4
_FEATURE_THRESHOLD = 0.1
_C = 1e-4
_DTYPE = torch.float32
"""Working precision of the filter responses and of Q_P's local statistics. float32 halves the memory traffic
of the 24 inverse FFTs and of every map pass (~2x faster on CPU); over all 148 rows of the reference table it
moves Q_P by at most 2e-5 relative (float64: 5e-13), well inside the 1e-3 agreement tolerance."""


def _axis(n: int, like: Tensor) -> Tensor:
    """``myphasecong3``'s normalised frequency axis (odd and even sizes handled as the code does)."""
    k = torch.arange(n, dtype=like.dtype, device=like.device)
    return (k - (n - 1) / 2) / (n - 1) if n % 2 else (k - n // 2) / n


@lru_cache(maxsize=2)
def _filters(h: int, w: int, device: torch.device) -> tuple[Tensor, list[tuple[float, float, float]]]:
    """Log-Gabor filters ``(orientation, scale, H, W)`` in :data:`_DTYPE` and each orientation's noise statistics.

    Built in float64 (the noise statistics stay float64). They depend on the image size only, so consecutive
    batches of one dataset share them (cached).
    """
    like = torch.empty(0, device=device, dtype=torch.float64)
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
        filters = torch.stack([lg * spread for lg in log_gabor])
        # The reference sums products of the spatial filters real(ifft2(F)) * sqrt(HW). By Parseval those sums
        # are sums over frequencies of the filters' even parts Fe(k) = (F(k) + F(-k)) / 2 (F is real): no FFT.
        even = (filters + torch.roll(filters.flip(-2, -1), (1, 1), (-2, -1))) / 2
        sum_an2 = (even**2).sum()
        sum_aiaj = sum((even[i] * even[j]).sum() for i in range(_NSCALE) for j in range(i + 1, _NSCALE))
        em_n = (filters[0] ** 2).sum()
        noise.append((em_n.item(), sum_an2.item(), sum_aiaj.item()))
        bank.append(filters)
    return torch.stack(bank).to(_DTYPE), noise


_MEDIAN_SAMPLE_STEP = 31
"""Stride of the sample that brackets the median (a prime, so that it does not follow the image rows)."""


def _select_median(x: Tensor) -> Tensor:
    """MATLAB median of each row by full selection: the lower middle, then the next larger value for even counts."""
    n = x.shape[-1]
    lower = x.kthvalue((n + 1) // 2, dim=-1).values
    if n % 2:
        return lower
    repeats = (x <= lower[..., None]).sum(dim=-1) > n // 2
    above = torch.where(x > lower[..., None], x, torch.inf).amin(dim=-1)
    return (lower + torch.where(repeats, lower, above)) / 2


def _matlab_median(x: Tensor) -> Tensor:
    """Median of each row of a 2-D tensor, the mean of the two middle values for even counts (torch's is the lower).

    A full selection costs about as much as all other map passes of an orientation. Instead a strided sample
    brackets the middle: one pass counts the values below the bracket and keeps the few % inside it, and only
    those are selected from. Exact: where the bracket misses a middle value, the full selection decides.
    """
    n = x.shape[-1]
    sample = x[:, ::_MEDIAN_SAMPLE_STEP]
    m = sample.shape[-1]
    margin = math.ceil(3 * math.sqrt(m))  # 6 standard deviations of the sample median's rank (sqrt(m) / 2)
    if m < 4 * margin:  # small images: the bracket would hold most values
        return _select_median(x)
    low = sample.kthvalue(m // 2 - margin, dim=-1, keepdim=True).values
    high = sample.kthvalue(m // 2 + 1 + margin, dim=-1, keepdim=True).values
    inside = (x >= low) & (x <= high)
    below, count = (x < low).sum(dim=-1), inside.sum(dim=-1)
    # 1-based ranks of the two middle values (equal for odd n)
    lower_rank, upper_rank = (n + 1) // 2, n // 2 + 1
    if not bool(((below < lower_rank) & (below + count >= upper_rank)).all()):
        return _select_median(x)
    bracketed = x[inside].split(count.tolist())  # row by row
    medians = []
    for row, start in zip(bracketed, below.tolist()):
        lower = row.kthvalue(lower_rank - start).values
        upper = row.kthvalue(upper_rank - start).values if upper_rank > lower_rank else lower
        medians.append((lower + upper) / 2)
    return torch.stack(medians)


def phase_congruency(img: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(PC, M, m) of ``myphasecong3`` for a ``(N, 1, H, W)`` batch, as :data:`_DTYPE` maps.

    Written as in-place passes over few buffers: on CPU the cost is memory traffic, and a fresh full-size
    temporary costs about as much as the arithmetic done on it.
    """
    h, w = img.shape[-2:]
    bank, noise = _filters(h, w, img.device)
    spectrum = torch.fft.fft2(img.to(_DTYPE))
    total_energy, total_an, covx2, covy2, covxy = (
        torch.zeros(img.shape, dtype=_DTYPE, device=img.device) for _ in range(5)
    )
    for o in range(_NORIENT):
        eos, sum_eo = [], torch.zeros_like(spectrum)
        for s in range(_NSCALE):
            eo = torch.fft.ifft2(spectrum * bank[o, s])
            # |EO|^2, then |EO| in place (complex abs is a slow hypot)
            amplitude = torch.mul(eo.real, eo.real).addcmul_(eo.imag, eo.imag)
            if s == 0:
                median_e2n = _matlab_median(amplitude.flatten(1)).view(-1, 1, 1, 1).double()
            amplitude.sqrt_()
            if s == 0:
                sum_an, max_an = amplitude.clone(), amplitude
            else:
                sum_an += amplitude
                torch.maximum(max_an, amplitude, out=max_an)
            sum_eo += eo
            eos.append(eo)
        # Energy = sum_s (E_s MeanE + O_s MeanO - |E_s MeanO - O_s MeanE|); the first two terms sum to
        # |sum_s EO_s|^2 / XEnergy.
        energy = torch.mul(sum_eo.real, sum_eo.real).addcmul_(sum_eo.imag, sum_eo.imag)
        x_energy = energy.sqrt().add_(_EPSILON)
        energy.div_(x_energy)
        mean_e, mean_o = sum_eo.real / x_energy, sum_eo.imag / x_energy
        for eo in eos:
            energy.sub_(torch.mul(eo.real, mean_o).addcmul_(eo.imag, mean_e, value=-1).abs_())
        del eos, sum_eo, mean_e, mean_o, x_energy

        em_n, sum_an2, sum_aiaj = noise[o]  # noise model per image, in float64
        noise_power = -median_e2n / math.log(0.5) / em_n
        tau = torch.sqrt((2 * noise_power * sum_an2 + 4 * noise_power * sum_aiaj) / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + _K * torch.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
        energy.sub_(threshold.to(_DTYPE)).clamp_(min=0)

        # weight = 1 / (1 + exp((cutOff - width) g)) with width = sum_an / (max_an + epsilon) / nscale
        weight = torch.div(sum_an, max_an.add_(_EPSILON)).div_(_NSCALE).sub_(_CUTOFF).mul_(_G).sigmoid_()
        weighted = weight.mul_(energy)
        total_an += sum_an
        total_energy += weighted
        pc_squared = weighted.div_(sum_an).square_()  # the orientation's PC; its covariance terms follow
        angle = o * math.pi / _NORIENT
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        covx2.add_(pc_squared, alpha=cos_a * cos_a / (_NORIENT / 2))
        covy2.add_(pc_squared, alpha=sin_a * sin_a / (_NORIENT / 2))
        covxy.add_(pc_squared, alpha=cos_a * sin_a / _NORIENT)

    pc = total_energy.div_(total_an.add_(_EPSILON))
    denom = torch.sqrt(covxy * covxy + (covx2 - covy2) ** 2).add_(_EPSILON)
    trace = covx2.add_(covy2)
    return pc, (trace + denom) / 2, (trace - denom) / 2


def _source_features(a: Tensor, b: Tensor) -> tuple[list[Tensor], list[tuple[list[Tensor], ...]]]:
    """What Q_P needs from the sources alone: the feature masks and, per feature (PC, M, m), the masked maps of
    A, B and the "max" source and their local first and second moments (11x11 Gaussian, zero padding)."""
    bsz = a.shape[0]
    pc, big, small = (t.split(bsz) for t in phase_congruency(torch.cat([a, b])))
    pick_a = pc[0] > pc[1]
    pc_max = torch.where(pick_a, pc[0], pc[1])
    masks = [pc[0] > _FEATURE_THRESHOLD, pc[1] > _FEATURE_THRESHOLD, pc_max > _FEATURE_THRESHOLD]
    taps = gaussian_1d(11, 1.5, pc[0])
    features = []
    for feature in (pc, big, small):
        maximum = torch.where(pick_a, feature[0], feature[1])
        # 0 outside the source's mask, as the toolbox's zero-initialised result maps
        maps = [torch.where(m, x, 0.0) for x, m in zip([feature[0], feature[1], maximum], masks)]
        moments = separable_filter(torch.cat([*maps, *(x * x for x in maps)]), taps, padding="zeros").split(bsz)
        features.append((maps, list(moments[:3]), list(moments[3:])))
    return masks, features


def _feature_agreement(maps: list[Tensor], mu: list[Tensor], sq: list[Tensor], masks: list[Tensor],
                       fused: Tensor) -> Tensor:
    """``correlation_coeffcient`` of ``metricZhao.m``: masked local correlations with F, best of three, mean.

    ``maps`` (masked source features) with their local means ``mu`` and squares ``sq`` come from
    :func:`_source_features`; F's moments and the cross moments are computed here.
    """
    taps = gaussian_1d(11, 1.5, fused)
    k = len(maps)
    moments = separable_filter(torch.cat([fused, fused * fused, *(x * fused for x in maps)]), taps, padding="zeros")
    mu_f, sq_f, *cross = moments.split(fused.shape[0])
    var_f = sq_f - mu_f * mu_f
    rhos = []
    for i in range(k):  # 0 outside the source's mask
        var = sq[i] - mu[i] * mu[i]
        rho = (cross[i] - mu[i] * mu_f + _C) / (torch.sqrt((var * var_f).abs()) + _C)
        rhos.append(torch.where(masks[i], rho, 0.0))
    best = torch.stack(rhos).amax(dim=0)
    return best.flatten(1).sum(dim=1, dtype=torch.float64) / masks[-1].flatten(1).sum(dim=1)


def qp(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Zhao's Q_P: how well F keeps the sources' phase-congruency features (PC, max and min moments).

    The sources' part (their phase congruency, masks and local moments: two thirds of the cost) comes from the
    cache's source store: in a multi-method evaluation it is computed once per pair.
    """
    cache = ensure(cache, f, a, b)
    masks, features = cache.source("qp_sources", lambda: _source_features(a, b))
    result = torch.ones(f.shape[0], dtype=torch.float64, device=f.device)
    for (maps, mu, sq), fused in zip(features, phase_congruency(f)):
        result = result * _feature_agreement(maps, mu, sq, masks, fused)
    return result

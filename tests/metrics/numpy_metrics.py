"""A straightforward numpy/scipy implementation of the default metric set (``cddfuse``) and FMI_pixel.

Why it exists: ``../shared/reference`` ships reference *values*, not code, so the speed target of issue 13
("faster than a straightforward numpy implementation") needs a baseline. This is that baseline: float64
throughout, scipy.ndimage separable filters, one function per metric, no sharing between metrics, as a
careful person writes each metric from ``../shared/research/metrics.md``. It is also a second, independent
check of fusionlab's values (``test_numpy_baseline.py``). Every function takes 2-D float64 arrays on 0..255.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

HALF_PI = np.pi / 2


def _hist(x: np.ndarray, bins: int = 256) -> np.ndarray:
    return np.bincount(x.astype(np.int64).ravel(), minlength=bins).astype(np.float64)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def en(f, a, b):
    return _entropy(_hist(f)) / np.log(2)


def sd(f, a, b):
    return float(np.std(f))


def sf(f, a, b):
    return float(np.sqrt(np.mean(np.diff(f, axis=1) ** 2) + np.mean(np.diff(f, axis=0) ** 2)))


def ag(f, a, b):
    gy, gx = np.gradient(f)
    return float(np.sum(np.sqrt((gx**2 + gy**2) / 2)) / f.size)


def _mi(s, f):
    joint = _hist(s * 256 + f, 256 * 256)
    return max(_entropy(_hist(s)) + _entropy(_hist(f)) - _entropy(joint), 0.0)


def mi(f, a, b):
    return _mi(a, f) + _mi(b, f)


def _corr(x, y):
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


def scd(f, a, b):
    return _corr(a, f - b) + _corr(b, f - a)


def cc(f, a, b):
    return (_corr(a, f) + _corr(b, f)) / 2


def mse(f, a, b):
    return float((np.mean((a - f) ** 2) + np.mean((b - f) ** 2)) / 2)


def psnr(f, a, b):
    return float(10 * np.log10(f.max() ** 2 / mse(f, a, b)))


def _gauss(n: int, sigma: float, normalize: bool = True) -> np.ndarray:
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum() if normalize else g


def _filter_valid(x, taps):
    """'valid' separable correlation (MATLAB filter2(w, x, 'valid') with w = outer(taps, taps))."""
    h = len(taps) // 2
    y = ndimage.correlate1d(ndimage.correlate1d(x, taps, axis=0, mode="constant"), taps, axis=1, mode="constant")
    return y[h : x.shape[0] - h, h : x.shape[1] - h]


def _vif_maps(ref, dist):
    """Per scale (g, sigma_ref^2, sigma_v^2) of ``vifp_mscale.m``."""
    out = []
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        taps = _gauss(n, n / 5)
        if scale > 1:
            ref = _filter_valid(ref, taps)[::2, ::2]
            dist = _filter_valid(dist, taps)[::2, ::2]
        mu1, mu2 = _filter_valid(ref, taps), _filter_valid(dist, taps)
        s1 = np.maximum(_filter_valid(ref * ref, taps) - mu1 * mu1, 0)
        s2 = np.maximum(_filter_valid(dist * dist, taps) - mu2 * mu2, 0)
        s12 = _filter_valid(ref * dist, taps) - mu1 * mu2
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        g[s1 < 1e-10] = 0
        sv[s1 < 1e-10] = s2[s1 < 1e-10]
        s1[s1 < 1e-10] = 0
        g[s2 < 1e-10] = 0
        sv[s2 < 1e-10] = 0
        sv[g < 0] = s2[g < 0]
        g[g < 0] = 0
        sv[sv <= 1e-10] = 1e-10
        out.append((g, s1, sv))
    return out


def _vifp(ref, dist):
    num = den = 0.0
    for g, s1, sv in _vif_maps(ref, dist):
        num += np.sum(np.log10(1 + g * g * s1 / (sv + 2)))
        den += np.sum(np.log10(1 + s1 / 2))
    return num / den


def vif(f, a, b):
    return float(_vifp(a, f) + _vifp(b, f))


def viff(f, a, b):
    noise, total = 0.005 * 255**2, 0.0
    for w, (ga, sa, va), (gb, sb, vb) in zip((1 / 2.15, 0, 0.15 / 2.15, 1 / 2.15), _vif_maps(a, f), _vif_maps(b, f)):
        use_b = gb < ga
        g, s1, sv = np.where(use_b, gb, ga), np.where(use_b, sb, sa), np.where(use_b, vb, va)
        vid = np.sum(np.log10(1 + g * g * s1 / (sv + noise))) + 1e-7 * g.size
        vind = np.sum(np.log10(1 + s1 / noise)) + 1e-7 * g.size
        total += w * vid / vind
    return float(total)


def _qabf_edges(x):
    sx = ndimage.convolve(x, np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]), mode="constant")
    sy = ndimage.convolve(x, np.array([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]]), mode="constant")
    g = np.sqrt(sx * sx + sy * sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(sx == 0, HALF_PI, np.arctan(sy / sx))
    return g, alpha


def _qabf_q(gs, as_, gf, af):
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gs > gf, gf / gs, gs / gf)
    ratio = np.where(gs == gf, gf, ratio)
    orient = 1 - np.abs(as_ - af) / HALF_PI
    return 0.9994 / (1 + np.exp(-15 * (ratio - 0.5))) * 0.9879 / (1 + np.exp(-22 * (orient - 0.8)))


def qabf(f, a, b):
    (ga, aa), (gb, ab), (gf, af) = _qabf_edges(a), _qabf_edges(b), _qabf_edges(f)
    return float(np.sum(_qabf_q(ga, aa, gf, af) * ga + _qabf_q(gb, ab, gf, af) * gb) / np.sum(ga + gb))


def _nabf_edges(x):
    k = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    gv = ndimage.correlate(x, k, mode="mirror")
    gh = ndimage.correlate(x, k.T, mode="mirror")
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where((gv == 0) & (gh == 0), 0.0, np.arctan(gv / gh))
    return np.sqrt(gh * gh + gv * gv), alpha


def _nabf_q(gs, as_, gf, af):
    undefined = (gs == 0) | (gf == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(undefined, 0.0, np.where(gs > gf, gf / gs, gs / gf))
    orient = np.abs(np.abs(as_ - af) - HALF_PI) / HALF_PI
    return np.sqrt(0.9999 / (1 + np.exp(-19 * (ratio - 0.5))) * 0.9995 / (1 + np.exp(-22 * (orient - 0.5))))


def nabf(f, a, b):
    (ga, aa), (gb, ab), (gf, af) = _nabf_edges(a), _nabf_edges(b), _nabf_edges(f)
    wa, wb = np.where(ga >= 2, ga**1.5, 0.001), np.where(gb >= 2, gb**1.5, 0.001)
    art = (gf > ga) & (gf > gb)
    num = np.sum(np.where(art, (1 - _nabf_q(ga, aa, gf, af)) * wa + (1 - _nabf_q(gb, ab, gf, af)) * wb, 0))
    return float(num / np.sum(wa + wb))


def ssim(f, a, b):
    return float(structural_similarity(f, a, data_range=2) + structural_similarity(f, b, data_range=2))


def _ssim_cs(x, y):
    taps, c1, c2 = _gauss(11, 1.5), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _filter_valid(x, taps), _filter_valid(y, taps)
    vx, vy = _filter_valid(x * x, taps) - mx * mx, _filter_valid(y * y, taps) - my * my
    cxy = _filter_valid(x * y, taps) - mx * my
    cs = (2 * cxy + c2) / (vx + vy + c2)
    return np.mean((2 * mx * my + c1) / (mx * mx + my * my + c1) * cs), np.mean(cs)


def _pool2(x):
    x = np.pad(x, [(d % 2, d % 2) for d in x.shape])
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _ms_ssim(x, y):
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    factors = []
    for level in range(5):
        s, cs = _ssim_cs(x, y)
        if level < 4:
            factors.append(max(cs, 0))
            x, y = _pool2(x), _pool2(y)
    factors.append(max(s, 0))
    return float(np.prod(np.array(factors) ** weights))


def ms_ssim(f, a, b):
    return _ms_ssim(f, a) + _ms_ssim(f, b) if min(f.shape) > 160 else float("nan")


def _normalize1(x):
    lo, hi = x.min(), x.max()
    y = (x - lo) / (hi - lo) * 255
    return np.sign(y) * np.floor(np.abs(y) + 0.5)


def _freq_radius(h, w, sh, sw):
    fu = (np.arange(w) - w // 2) * (2 / w) * sw
    fv = (np.arange(h) - h // 2) * (2 / h) * sh
    return np.fft.ifftshift(np.sqrt(fu[None, :] ** 2 + fv[:, None] ** 2))


def _fft_filter(x, response):
    return np.real(np.fft.ifft2(np.fft.fft2(x) * response))


def qcb(f, a, b):
    h, w = f.shape
    r = _freq_radius(h, w, h / 30, w / 30)
    csf = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))

    def contrast(x):
        x = _fft_filter(_normalize1(x), csf)
        g2, g4 = _gauss(31, 2.0, False) / np.sqrt(2 * np.pi * 4), _gauss(31, 4.0, False) / np.sqrt(2 * np.pi * 16)
        fine = ndimage.correlate1d(ndimage.correlate1d(x, g2, 0, mode="constant"), g2, 1, mode="constant")
        coarse = ndimage.correlate1d(ndimage.correlate1d(x, g4, 0, mode="constant"), g4, 1, mode="constant")
        c = np.abs(fine / coarse - 1)
        return c**3 / (c**2 + 1e-4)

    ca, cb, cf = contrast(a), contrast(b), contrast(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        qa, qb = np.where(ca < cf, ca / cf, cf / ca), np.where(cb < cf, cb / cf, cf / cb)
        lam_a = ca * ca / (ca * ca + cb * cb)
        lam_b = cb * cb / (ca * ca + cb * cb)
    return float(np.mean(lam_a * qa + lam_b * qb))


def _blocks(x, n, mean):
    h, w = x.shape
    x = np.pad(x, ((0, (-h) % n), (0, (-w) % n)))
    s = x.reshape(x.shape[0] // n, n, x.shape[1] // n, n).sum(axis=(1, 3))
    return s / (n * n) if mean else s


def qcv(f, a, b):
    h, w = f.shape
    a, b, f = _normalize1(a), _normalize1(b), _normalize1(f)
    r = _freq_radius(h, w, h / 8, w / 8)
    csf = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    kx = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    num = den = 0.0
    for s in (a, b):
        g = np.sqrt(ndimage.correlate(s, kx, mode="constant") ** 2 + ndimage.correlate(s, kx.T, mode="constant") ** 2)
        sal = _blocks(g**5, 16, mean=False)
        dist = _blocks(_fft_filter(s - f, csf) ** 2, 16, mean=True)
        num, den = num + np.sum(sal * dist), den + np.sum(sal)
    return float(num / den)


def baseline_metrics() -> dict:
    """Name -> function(f, a, b) -> float for every metric of the baseline (the default set and FMI_pixel)."""
    from numpy_fmi import fmi_pixel

    return {
        "EN": en, "SD": sd, "SF": sf, "AG": ag, "MI": mi, "SCD": scd, "VIF": vif, "VIFF": viff, "Qabf": qabf,
        "Nabf": nabf, "SSIM": ssim, "MS_SSIM": ms_ssim, "PSNR": psnr, "CC": cc, "MSE": mse, "Qcb": qcb,
        "Qcv": qcv, "FMI_pixel": fmi_pixel,
    }  # fmt: skip

"""Visual information fidelity: VIF (Sheikh-Bovik multi-scale pixel VIF, summed over sources) and VIFF (Han 2013).

Both start from the same per-scale maps of ``vifp_mscale.m``: 4 scales with Gaussian windows N = 17, 9, 5, 3
(sigma N/5), 'valid' filtering, 2x decimation between scales, and the reference's clamping rules for
negative variances and gains. VIF sums them with sigma_n^2 = 2; VIFF (MEFB ``metricsVIF.m``) uses
sigma_n^2 = 0.005 * 255^2, keeps per location the source with the smaller gain, and weights the scales.

The maps stay float64: windows whose variance is tiny but not zero (a few pixels differing from a flat
background, common in medical images) have gains g = s12 / s1 that float32 cannot resolve; float32 moved
VIFF of the Harvard PET/SPECT pairs by 0.3-1% (tolerance 0.1%), with or without centring.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.metrics._ops import gaussian_1d, separable_filter
from fusionlab.metrics.shared import Intermediates, ensure

_EPS = 1e-10
_VIF_NOISE = 2.0
_VIFF_NOISE = 0.005 * 255.0 * 255.0
_VIFF_WEIGHTS = (1.0 / 2.15, 0.0, 0.15 / 2.15, 1.0 / 2.15)
_VIFF_C = 1e-7


def _taps(scale: int) -> list[float]:
    n = 2 ** (4 - scale + 1) + 1
    return gaussian_1d(n, n / 5.0, torch.empty(0, dtype=torch.float64)).tolist()


def _source_scales(refs: Tensor) -> list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]]:
    """Per scale, what the references (the sources, ``(n_ref * B, 1, H, W)``) contribute on their own.

    ``(decimated images, local means, variances clamped at 0, flat = variance < eps, variances zeroed where
    flat)``, each per scale. They do not depend on the fused image, so a multi-method evaluation computes them
    once per pair (:meth:`~fusionlab.metrics.shared.Intermediates.source`).
    """
    out = []
    stack = refs
    for scale in range(1, 5):
        taps = _taps(scale)
        if scale > 1:
            stack = separable_filter(stack, taps, step=2)
        k = stack.shape[0]
        moments = separable_filter(torch.cat([stack, stack * stack]), taps)
        mu, s1 = moments[:k], moments[k:]
        s1.sub_(mu * mu).clamp_(min=0)
        flat = s1 < _EPS
        out.append((stack, mu, s1, flat, s1.masked_fill(flat, 0.0)))
    return out


def _scale_maps(
    sources: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]], n_ref: int, dist: Tensor
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per scale (g, sigma_ref^2, sigma_v^2), each ``(n_ref, B, 1, h, w)``, after the clamping rules of
    ``vifp_mscale.m``.

    The references share the distorted (fused) image: its moments and its cross moments with every reference
    come from one batched filtering call, and the rules run in place.
    """
    bsz = dist.shape[0]
    out = []
    for scale, (refs_flat, mu_flat, s1_flat, flat_flat, s1_kept_flat) in enumerate(sources, start=1):
        taps = _taps(scale)
        if scale > 1:
            dist = separable_filter(dist, taps, step=2)
        refs_s = refs_flat.unflatten(0, (n_ref, bsz))
        maps = torch.empty((2 * bsz + n_ref * bsz, *dist.shape[1:]), dtype=dist.dtype, device=dist.device)
        maps[:bsz] = dist
        torch.mul(dist, dist, out=maps[bsz : 2 * bsz])
        torch.mul(refs_s, dist, out=maps[2 * bsz :].unflatten(0, (n_ref, bsz)))
        moments = separable_filter(maps, taps)
        mu_d, s2, cross = moments[:bsz], moments[bsz : 2 * bsz], moments[2 * bsz :].unflatten(0, (n_ref, bsz))
        mu_r, s1 = mu_flat.unflatten(0, (n_ref, bsz)), s1_flat.unflatten(0, (n_ref, bsz))
        s2.sub_(mu_d * mu_d).clamp_(min=0)
        s12 = cross.sub_(mu_r * mu_d)

        g = s12 / (s1 + _EPS)
        sv = s2 - g * s12
        flat_ref, flat_dist = flat_flat.unflatten(0, (n_ref, bsz)), (s2 < _EPS).expand_as(s1)
        g.masked_fill_(flat_ref | flat_dist, 0.0)
        sv = torch.where(flat_ref, s2, sv).masked_fill_(flat_dist, 0.0)
        sv = torch.where(g < 0, s2, sv).clamp_(min=_EPS)
        g.clamp_(min=0)
        out.append((g, s1_kept_flat.unflatten(0, (n_ref, bsz)), sv))
    return out


def _vifp_sums(g: Tensor, s1: Tensor, sv: Tensor, noise: float) -> tuple[Tensor, Tensor]:
    """Per-image sums of the information with and without distortion: log10(1 + g^2 s1 / (sv + n)), log10(1 +
    s1 / n)."""
    info = torch.log10((g * g).mul_(s1).div_(sv + noise).add_(1))
    ref_info = torch.log10(s1.div(noise).add_(1))
    return image_sum(info), image_sum(ref_info)


def image_sum(x: Tensor) -> Tensor:
    return x.sum(dim=(-3, -2, -1), dtype=torch.float64)


def vif_and_viff(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> dict[str, Tensor]:
    """VIF and VIFF from one pass over the shared per-scale maps (the expensive part of both)."""
    sources = ensure(cache, f, a, b).source("vif_scales", lambda: _source_scales(torch.cat([a, b])))
    num = torch.zeros(2, f.shape[0], dtype=f.dtype, device=f.device)
    den = torch.zeros_like(num)
    viff_total = torch.zeros(f.shape[0], dtype=f.dtype, device=f.device)
    for weight, (g, s1, sv) in zip(_VIFF_WEIGHTS, _scale_maps(sources, 2, f)):
        info, ref_info = _vifp_sums(g, s1, sv, _VIF_NOISE)
        num += info
        den += ref_info
        if weight == 0.0:  # VIFF ignores this scale (its sums are finite: 0 * them is 0)
            continue
        # VIFF: where B's gain is strictly smaller B is used, else A (MEFB called with (VI, IR, F)).
        use_b = g[1] < g[0]
        vid, vind = _vifp_sums(
            torch.where(use_b, g[1], g[0]), torch.where(use_b, s1[1], s1[0]), torch.where(use_b, sv[1], sv[0]),
            _VIFF_NOISE,
        )  # fmt: skip
        count = g[0, 0].numel()
        viff_total += weight * (vid + _VIFF_C * count) / (vind + _VIFF_C * count)
    return {"VIF": (num / den).sum(dim=0), "VIFF": viff_total}


def vif(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """VIFp(A, F) + VIFp(B, F), the column CDDFuse and Tang call "VIF"; NaN if a source is constant."""
    cache = ensure(cache, f, a, b)
    return cache.get("vif", lambda: vif_and_viff(f, a, b, cache=cache))["VIF"]


def viff(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Han et al.'s VIFF with sigma_n^2 = 0.005 * 255^2 and scale weights [1, 0, 0.15, 1] / 2.15."""
    cache = ensure(cache, f, a, b)
    return cache.get("vif", lambda: vif_and_viff(f, a, b, cache=cache))["VIFF"]

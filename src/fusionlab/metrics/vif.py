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


def _scale_maps(refs: list[Tensor], dist: Tensor) -> list[list[tuple[Tensor, Tensor, Tensor]]]:
    """Per scale, for each reference: (g, sigma_ref^2, sigma_v^2) after the clamping rules of ``vifp_mscale.m``.

    The references share the distorted (fused) image, so all images are filtered in one batched call.
    """
    n_ref = len(refs)
    stack = torch.cat([*refs, dist], dim=0)  # (n_ref + 1) * B images
    bsz = dist.shape[0]
    out = []
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        taps = gaussian_1d(n, n / 5.0, torch.empty(0, dtype=torch.float64)).tolist()
        if scale > 1:
            stack = separable_filter(stack, taps, step=2)
        refs_s = stack[: n_ref * bsz]
        dist_s = stack[n_ref * bsz :]
        dist_rep = dist_s.repeat(n_ref, 1, 1, 1)
        moments = separable_filter(torch.cat([stack, stack * stack, refs_s * dist_rep], dim=0), taps)
        mu = moments[: stack.shape[0]]
        sq = moments[stack.shape[0] : 2 * stack.shape[0]]
        cross = moments[2 * stack.shape[0] :]
        mu_r, mu_d = mu[: n_ref * bsz], mu[n_ref * bsz :].repeat(n_ref, 1, 1, 1)
        s1 = (sq[: n_ref * bsz] - mu_r * mu_r).clamp(min=0)
        s2 = (sq[n_ref * bsz :] - mu[n_ref * bsz :] ** 2).clamp(min=0).repeat(n_ref, 1, 1, 1)
        s12 = cross - mu_r * mu_d

        g = s12 / (s1 + _EPS)
        sv = s2 - g * s12
        flat_ref = s1 < _EPS
        g = torch.where(flat_ref, 0.0, g)
        sv = torch.where(flat_ref, s2, sv)
        s1 = torch.where(flat_ref, 0.0, s1)
        flat_dist = s2 < _EPS
        g = torch.where(flat_dist, 0.0, g)
        sv = torch.where(flat_dist, 0.0, sv)
        neg = g < 0
        sv = torch.where(neg, s2, sv)
        g = g.clamp(min=0)
        sv = torch.where(sv <= _EPS, _EPS, sv)
        out.append(
            [
                (g[i * bsz : (i + 1) * bsz], s1[i * bsz : (i + 1) * bsz], sv[i * bsz : (i + 1) * bsz])
                for i in range(n_ref)
            ]
        )
    return out


def _vifp_sums(g: Tensor, s1: Tensor, sv: Tensor, noise: float) -> tuple[Tensor, Tensor]:
    """Per-location information with and without distortion: log10(1 + g^2 s1 / (sv + n)), log10(1 + s1 / n)."""
    return torch.log10(1 + g * g * s1 / (sv + noise)), torch.log10(1 + s1 / noise)


def image_sum(x: Tensor) -> Tensor:
    return x.sum(dim=(-3, -2, -1), dtype=torch.float64)


def vif_and_viff(
    f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None
) -> dict[str, Tensor]:
    """VIF and VIFF from one pass over the shared per-scale maps (the expensive part of both)."""
    cache = ensure(cache, f, a, b)
    num = torch.zeros(f.shape[0], 2, dtype=f.dtype, device=f.device)
    den = torch.zeros_like(num)
    viff_total = torch.zeros(f.shape[0], dtype=f.dtype, device=f.device)
    maps = _scale_maps([a, b], f)
    for weight, scale in zip(_VIFF_WEIGHTS, maps):
        for i, (g, s1, sv) in enumerate(scale):
            info, ref_info = _vifp_sums(g, s1, sv, _VIF_NOISE)
            num[:, i] += image_sum(info)
            den[:, i] += image_sum(ref_info)
        # VIFF: where B's gain is strictly smaller B is used, else A (MEFB called with (VI, IR, F)).
        (ga, s1a, sva), (gb, s1b, svb) = scale
        use_b = gb < ga
        vid, vind = _vifp_sums(
            torch.where(use_b, gb, ga),
            torch.where(use_b, s1b, s1a),
            torch.where(use_b, svb, sva),
            _VIFF_NOISE,
        )
        count = vid[0].numel()
        viff_total += weight * (image_sum(vid) + _VIFF_C * count) / (image_sum(vind) + _VIFF_C * count)
    return {"VIF": (num / den).sum(dim=1), "VIFF": viff_total}


def vif(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """VIFp(A, F) + VIFp(B, F), the column CDDFuse and Tang call "VIF"; NaN if a source is constant."""
    cache = ensure(cache, f, a, b)
    return cache.get("vif", lambda: vif_and_viff(f, a, b, cache=cache))["VIF"]


def viff(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse", cache: Intermediates | None = None) -> Tensor:
    """Han et al.'s VIFF with sigma_n^2 = 0.005 * 255^2 and scale weights [1, 0, 0.15, 1] / 2.15."""
    cache = ensure(cache, f, a, b)
    return cache.get("vif", lambda: vif_and_viff(f, a, b, cache=cache))["VIFF"]

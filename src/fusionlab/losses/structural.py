"""Structural-similarity terms beyond plain SSIM: gradient-weighted SSIM and multi-scale SSIM.

Both compare the fused image with each source; they differ in how the two comparisons are weighted
(by how much structure each source carries) and in how many scales are looked at.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.ops import _gaussian_window, sobel_magnitude, ssim_map

WEIGHTINGS = ("equal", "batch", "image", "local")
MEASURES = ("gradient", "variance")
# Wang, Simoncelli & Bovik (2003), the five-scale exponents everybody uses.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _blur(x: Tensor, window: int, sigma: float) -> Tensor:
    w = _gaussian_window(window, sigma, str(x.device), x.dtype)
    pad = window // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode=mode), w)


def source_weights(a: Tensor, b: Tensor, weighting: str = "local", measure: str = "gradient",
                   window: int = 11, sigma: float = 1.5, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """(w_a, w_b), broadcastable to (B, 1, H, W), with w_a + w_b = 1: each source's share of the structure.

    ``measure`` is the Sobel magnitude (SwinFusion) or the local variance; ``weighting`` decides where the
    share is taken: over the whole batch (SwinFusion/UniFusion code), per image, or per window ("local",
    Gaussian-weighted like SSIM's own window). Weights are constants (no gradient): they describe the sources.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"SSIM weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if measure not in MEASURES:
        raise ConfigError(f"SSIM weight measure must be one of {MEASURES}, got {measure!r}")
    if weighting == "equal":
        half = a.new_full((1, 1, 1, 1), 0.5)
        return half, half
    with torch.no_grad():
        if measure == "gradient":
            ea, eb = sobel_magnitude(a), sobel_magnitude(b)
        else:
            ea = (_blur(a * a, window, sigma) - _blur(a, window, sigma) ** 2).clamp_min(0)
            eb = (_blur(b * b, window, sigma) - _blur(b, window, sigma) ** 2).clamp_min(0)
        if weighting == "local":
            if measure == "gradient":  # variance is already a windowed statistic
                ea, eb = _blur(ea, window, sigma), _blur(eb, window, sigma)
        elif weighting == "image":
            ea, eb = ea.mean((1, 2, 3), keepdim=True), eb.mean((1, 2, 3), keepdim=True)
        else:
            ea, eb = ea.mean().view(1, 1, 1, 1), eb.mean().view(1, 1, 1, 1)
        wa = (ea + eps) / (ea + eb + 2 * eps)  # flat everywhere -> 0.5 / 0.5
    return wa, 1 - wa


class WeightedSSIMLoss(LossTerm):
    """1 - mean(w_a * SSIM(F, A) + w_b * SSIM(F, B)), the weights being each source's structure share.

    Source: SwinFusion (Ma et al., JAS 2022) and UniFusion's released losses weight the two SSIMs by the
    sources' mean Sobel magnitudes over the batch (``weighting="batch"``). The default ``"local"`` takes
    that share per SSIM window, so the fused image follows the source with more structure *there*
    (a texture-rich visible region, a hot-target edge in infrared). ``weighting="equal"`` equals SSIMLoss.
    """

    name = "ssim"

    def __init__(self, weight: float = 10.0, weighting: str = "local", measure: str = "gradient",
                 window: int = 11, sigma: float = 1.5) -> None:
        super().__init__(weight)
        source_weights(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), weighting, measure)  # validate now
        self.weighting, self.measure, self.window, self.sigma = weighting, measure, window, sigma

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        a, b = batch["a"].float(), batch["b"].float()
        wa, wb = source_weights(a, b, self.weighting, self.measure, self.window, self.sigma)
        sa = ssim_map(fused, a, self.window, self.sigma)
        sb = ssim_map(fused, b, self.window, self.sigma)
        return 1.0 - (wa * sa + wb * sb).mean()


def ms_ssim(x: Tensor, y: Tensor, scales: int = 5, window: int = 11, sigma: float = 1.5,
            data_range: float = 1.0, min_size: int = 8) -> Tensor:
    """Per-sample MS-SSIM (B,) of two (B, 1, H, W) images.

    MS-SSIM = prod_j cs_j^{w_j} * l_J^{w_J} (Wang et al. 2003), 2x average-pooling between scales. Training
    patches are small, so the number of scales is capped to keep the coarsest side >= ``min_size`` and
    the exponents of the scales used are renormalised to sum to 1. Negative contrast-structure means
    (anti-correlated images) are clamped to a small positive value so the fractional powers stay real.
    """
    if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise ConfigError(f"MS-SSIM scales must be in 1..{len(MS_SSIM_WEIGHTS)}, got {scales}")
    side = min(x.shape[-2:])
    n = 1
    while n < scales and side // 2**n >= min_size:
        n += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:n], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    out = x.new_ones(x.shape[0])
    for j in range(n):
        mx, my = _blur(x, window, sigma), _blur(y, window, sigma)
        sxx = _blur(x * x, window, sigma) - mx * mx
        syy = _blur(y * y, window, sigma) - my * my
        sxy = _blur(x * y, window, sigma) - mx * my
        cs = ((2 * sxy + c2) / (sxx + syy + c2)).mean((1, 2, 3))
        if j == n - 1:
            lum = ((2 * mx * my + c1) / (mx * mx + my * my + c1)).mean((1, 2, 3))
            cs = cs * lum
        out = out * cs.clamp_min(1e-6) ** weights[j]
        if j < n - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


class MSSSIMLoss(LossTerm):
    """1 - mean over sources of MS-SSIM(F, source) (or of MS-SSIM(F, target) with ``against="target"``).

    Source: Wang et al. (2003); GIFNet uses 1 - MS-SSIM for its reconstruction branch. Multi-scale keeps
    the coarse layout of both sources where single-scale SSIM only sees 11x11 windows.
    """

    name = "ms_ssim"

    def __init__(self, weight: float = 1.0, scales: int = 5, window: int = 11, sigma: float = 1.5,
                 against: str = "sources") -> None:
        super().__init__(weight)
        if against not in ("sources", "target"):
            raise ConfigError(f"MS-SSIM 'against' must be 'sources' or 'target', got {against!r}")
        if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
            raise ConfigError(f"MS-SSIM scales must be in 1..{len(MS_SSIM_WEIGHTS)}, got {scales}")
        self.scales, self.window, self.sigma, self.against = scales, window, sigma, against

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        if self.against == "target" and batch.get("target") is None:
            raise KeyError(f"loss term {self.name!r} with against='target' needs batch['target'] (synthetic data)")
        refs = [batch["target"]] if self.against == "target" else [batch["a"], batch["b"]]
        scores = [ms_ssim(fused, r.float(), self.scales, self.window, self.sigma).mean() for r in refs]
        return 1.0 - torch.stack(scores).mean()

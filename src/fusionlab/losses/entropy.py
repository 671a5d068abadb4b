"""Pixel-entropy: a differentiable estimate of the fused image's intensity entropy, to be *raised*.

Our design of DECC's "high pixel-entropy expectation" (Liu et al., CVPR 2026; the paper's code is not
public, so the estimator, normalisation and defaults here are ours). The EN metric counts 256 hard
bins; a hard histogram has no gradient, so pixels are spread over neighbouring bins by a kernel:

* ``kernel="triangular"``: linear interpolation between the two nearest bin centres (each pixel adds
  1 - |x*L - 0.5 - k| to bin k). O(N) memory via scatter-add, so the metric's 256 bins are affordable.
* ``kernel="gaussian"``: exp(-(x - c_k)^2 / 2 (s/L)^2), normalised per pixel; smoother, O(N*L) memory.

    p_k = sum_pixels m_k(x) / N,   H = -sum_k p_k log p_k,   loss = 1 - H / log(L)  in [0, 1]

``mode="local"`` averages the entropy of Gaussian-weighted windows instead (local contrast rather than a
global histogram; needs O(N*L) memory, so use fewer bins there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.ops import _gaussian_window

KERNELS = ("triangular", "gaussian")
MODES = ("global", "local")


def soft_memberships(x: Tensor, bins: int, kernel: str = "triangular", bandwidth: float = 0.5) -> Tensor:
    """(B, 1, H, W) in [0, 1] -> (B, L, H, W) bin memberships summing to 1 per pixel (dense form)."""
    if kernel not in KERNELS:
        raise ConfigError(f"entropy kernel must be one of {KERNELS}, got {kernel!r}")
    pos = x.clamp(0, 1) * bins - 0.5  # bin k's centre sits at pos == k
    k = torch.arange(bins, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    if kernel == "triangular":
        m = (1 - (pos - k).abs()).clamp_min(0)
        # Pixels below the first / above the last centre fold into the edge bins.
        first = m[:, :1] + (-pos).clamp(0, 1)
        last = m[:, -1:] + (pos - (bins - 1)).clamp(0, 1)
        return torch.cat((first, m[:, 1:-1], last), 1)
    m = torch.exp(-0.5 * ((pos - k) / bandwidth) ** 2)
    return m / m.sum(1, keepdim=True)


def soft_histogram(x: Tensor, bins: int = 256, kernel: str = "triangular", bandwidth: float = 0.5) -> Tensor:
    """Per-sample normalised soft histogram (B, L) of (B, 1, H, W) images in [0, 1]."""
    if bins < 2:
        raise ConfigError(f"entropy bins must be >= 2, got {bins}")
    flat = x.clamp(0, 1).flatten(1)
    if kernel == "triangular":
        pos = flat * bins - 0.5
        lo = pos.floor()
        frac = pos - lo  # the gradient flows through the split between the two neighbouring bins
        lo = lo.long()
        hist = flat.new_zeros(flat.shape[0], bins)
        hist = hist.scatter_add(1, lo.clamp(0, bins - 1), 1 - frac)
        hist = hist.scatter_add(1, (lo + 1).clamp(0, bins - 1), frac)
    else:
        hist = soft_memberships(x, bins, kernel, bandwidth).flatten(2).sum(-1)
    return hist / hist.sum(1, keepdim=True)


def entropy(p: Tensor, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """Shannon entropy in nats along ``dim`` (0 log 0 = 0)."""
    return -(p * (p + eps).log()).sum(dim)


def soft_entropy(x: Tensor, bins: int = 256, kernel: str = "triangular", bandwidth: float = 0.5,
                 base: float = math.e) -> Tensor:
    """Per-sample differentiable intensity entropy (B,), in units of log ``base`` (2 gives bits, like EN)."""
    return entropy(soft_histogram(x, bins, kernel, bandwidth)) / math.log(base)


def local_entropy(x: Tensor, bins: int = 32, window: int = 9, sigma: float = 2.0, kernel: str = "triangular",
                  bandwidth: float = 0.5) -> Tensor:
    """Per-pixel entropy (B, 1, H, W) of Gaussian-weighted window histograms, in nats."""
    m = soft_memberships(x, bins, kernel, bandwidth)
    w = _gaussian_window(window, sigma, str(x.device), x.dtype).expand(bins, 1, window, window)
    pad = window // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    p = F.conv2d(F.pad(m, (pad, pad, pad, pad), mode=mode), w, groups=bins)
    return entropy(p, dim=1).unsqueeze(1)


class PixelEntropyLoss(LossTerm):
    """1 - H(F) / log(L): zero when the fused histogram is uniform, one for a constant image.

    Our design of DECC's pixel-entropy expectation (see the module docstring). Raising entropy alone
    would equalise the histogram regardless of the sources, so it is a *regulariser* beside the pixel
    objective, with a small weight.
    """

    name = "pixel_entropy"

    def __init__(self, weight: float = 1.0, bins: int = 256, kernel: str = "triangular", bandwidth: float = 0.5,
                 mode: str = "global", window: int = 9, sigma: float = 2.0) -> None:
        super().__init__(weight)
        if kernel not in KERNELS:
            raise ConfigError(f"pixel_entropy kernel must be one of {KERNELS}, got {kernel!r}")
        if mode not in MODES:
            raise ConfigError(f"pixel_entropy mode must be one of {MODES}, got {mode!r}")
        if bins < 2 or bandwidth <= 0:
            raise ConfigError(f"pixel_entropy needs bins >= 2 and bandwidth > 0, got {bins}, {bandwidth}")
        self.bins, self.kernel, self.bandwidth = int(bins), kernel, float(bandwidth)
        self.mode, self.window, self.sigma = mode, int(window), float(sigma)

    def entropy(self, fused: Tensor) -> Tensor:
        """Per-sample entropy in nats (B,)."""
        if self.mode == "local":
            return local_entropy(fused, self.bins, self.window, self.sigma, self.kernel, self.bandwidth).mean((1, 2, 3))
        return soft_entropy(fused, self.bins, self.kernel, self.bandwidth)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        return 1.0 - self.entropy(fused).mean() / math.log(self.bins)

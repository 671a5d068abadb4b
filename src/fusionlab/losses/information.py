"""Information-weighted pixel loss: follow each source in proportion to how much information it carries.

Source: U2Fusion (Xu et al., TPAMI 2022) and GIFNet (Cheng et al., CVPR 2025). Both measure a source's
information as the energy of the gradient (U2Fusion) / Laplacian (GIFNet) of its deep features, turn
the two energies into weights with a softmax of temperature ``c``, and weight a per-source pixel
distance with them. Unlike a fixed max/mean target this adapts per image and needs no task label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.base import LossTerm
from fusionlab.losses.features import get_features, has_features
from fusionlab.losses.ops import cached_constant, ssim_map

SOURCES = ("auto", "features", "image")
DISTANCES = ("mse", "l1")


@cached_constant
def _laplacian(device: str, dtype: torch.dtype) -> Tensor:
    # GIFNet's kernel: surround 1/8, centre -1 (zero response on flat regions)
    k = torch.full((3, 3), 1.0 / 8)
    k[1, 1] = -1.0
    return k[None, None].to(device=device, dtype=dtype)


def laplacian_energy(x: Tensor) -> Tensor:
    """Per-sample mean squared Laplacian response over channels and pixels: (B, C, H, W) -> (B,)."""
    b, c, h, w = x.shape
    flat = x.reshape(b * c, 1, h, w)
    mode = "reflect" if min(h, w) > 1 else "replicate"
    resp = F.conv2d(F.pad(flat, (1, 1, 1, 1), mode=mode), _laplacian(str(x.device), x.dtype))
    return resp.reshape(b, -1).pow(2).mean(1)


def image_pyramid(x: Tensor, levels: int = 3) -> list[Tensor]:
    """The image-space stand-in for a feature pyramid: the image and its 2x average-pooled copies."""
    out = [x]
    for _ in range(levels - 1):
        if min(out[-1].shape[-2:]) < 4:
            break
        out.append(F.avg_pool2d(out[-1], 2))
    return out


def information_weights(levels_a: Sequence[Tensor], levels_b: Sequence[Tensor], temperature: float = 0.25,
                        normalize: bool = True, eps: float = 1e-12) -> tuple[Tensor, Tensor]:
    """Per-sample weights (w_a, w_b), each (B,), with w_a + w_b = 1 and no gradient.

    ``normalize=True`` (ours): each level's energies become shares g_a/(g_a+g_b) in [0, 1], averaged over
    levels, so the temperature is scale-free (levels of very different magnitudes count equally).
    ``normalize=False``: U2Fusion's raw form, softmax((mean_l g_a, mean_l g_b) / c), where c depends on
    the feature scale (U2Fusion's 3200/3500/100 for VGG-16 features of 0-255 images).
    """
    if temperature <= 0:
        raise ConfigError(f"information-weight temperature must be > 0, got {temperature}")
    with torch.no_grad():
        ga = torch.stack([laplacian_energy(f.float()) for f in levels_a])  # (L, B)
        gb = torch.stack([laplacian_energy(f.float()) for f in levels_b])
        if normalize:
            sa = ((ga + eps) / (ga + gb + 2 * eps)).mean(0)
            scores = torch.stack((sa, 1 - sa), 1)
        else:
            scores = torch.stack((ga.mean(0), gb.mean(0)), 1)
        w = torch.softmax(scores / temperature, dim=1)
    return w[:, 0], w[:, 1]


def task_mask(tasks: Sequence[str] | None, keep: Sequence[str] | None, n: int, device: torch.device) -> Tensor:
    """Boolean (B,) mask of the samples whose task is in ``keep`` (all when ``keep`` is None)."""
    if keep is None or tasks is None:
        return torch.ones(n, dtype=torch.bool, device=device)
    return torch.tensor([t in keep for t in tasks], dtype=torch.bool, device=device)


class InformationWeightedLoss(LossTerm):
    """sum_b [w_a,b * d(F_b, A_b) + w_b,b * d(F_b, B_b)] / B  (+ ``ssim_weight`` x the same-weighted 1 - SSIM).

    ``(w_a, w_b) = softmax((s_a, s_b) / c)`` from the sources' Laplacian energies (see
    :func:`information_weights`); ``d`` is MSE (U2Fusion/GIFNet) or L1. ``source`` picks where the energy
    is measured: the model's encoder features (``batch["features_a"/"features_b"]``; U2Fusion/GIFNet use a
    frozen VGG/DenseNet, here the model's own backbone), a 3-level image pyramid, or ``auto`` (features
    when the module provides them, else the image). ``tasks`` restricts the term to those samples (GIFNet
    applies it to its IVIF step only).
    """

    name = "information"

    def __init__(self, weight: float = 1.0, temperature: float = 0.25, distance: str = "mse",
                 source: str = "auto", normalize: bool = True, ssim_weight: float = 0.0,
                 tasks: Sequence[str] | None = None) -> None:
        super().__init__(weight)
        if temperature <= 0:
            raise ConfigError(f"information temperature must be > 0, got {temperature}")
        if distance not in DISTANCES:
            raise ConfigError(f"information distance must be one of {DISTANCES}, got {distance!r}")
        if source not in SOURCES:
            raise ConfigError(f"information source must be one of {SOURCES}, got {source!r}")
        if ssim_weight < 0:
            raise ConfigError(f"information ssim_weight must be >= 0, got {ssim_weight}")
        self.temperature, self.distance, self.source = float(temperature), distance, source
        self.normalize, self.ssim_weight = normalize, float(ssim_weight)
        self.tasks = list(tasks) if tasks is not None else None
        # Read by FusionModule: ask for features only when they are required.
        self.needs_features = source == "features"

    def weights(self, batch: Mapping) -> tuple[Tensor, Tensor]:
        """(w_a, w_b), each (B,): exposed for logging and tests."""
        use_features = self.source == "features" or (self.source == "auto" and has_features(batch))
        if use_features:
            la = get_features(batch, "features_a", self.name)
            lb = get_features(batch, "features_b", self.name)
        else:
            la, lb = image_pyramid(batch["a"].float()), image_pyramid(batch["b"].float())
        return information_weights(la, lb, self.temperature, self.normalize)

    def compute(self, fused: Tensor, batch: Mapping) -> Tensor:
        a, b = batch["a"].float(), batch["b"].float()
        keep = task_mask(batch.get("task"), self.tasks, fused.shape[0], fused.device)
        if not bool(keep.any()):
            return fused.new_zeros(())
        wa, wb = self.weights(batch)

        def dist(x: Tensor, y: Tensor) -> Tensor:
            d = (x - y).pow(2) if self.distance == "mse" else (x - y).abs()
            return d.mean((1, 2, 3))

        per = wa * dist(fused, a) + wb * dist(fused, b)
        if self.ssim_weight:
            sa, sb = ssim_map(fused, a).mean((1, 2, 3)), ssim_map(fused, b).mean((1, 2, 3))
            per = per + self.ssim_weight * (wa * (1 - sa) + wb * (1 - sb))
        return per[keep].mean()

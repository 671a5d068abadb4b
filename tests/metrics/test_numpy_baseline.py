"""The numpy baseline of ``bench_metrics.py`` computes the same metrics as fusionlab (a second, independent check).

Synthetic 8-bit images, so this runs without the shared data. Tolerances are the agreement tolerances of the
reference values (1e-4 relative; 1e-3 for VIF, VIFF, FMI, Qcb, Qcv).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy_metrics import baseline_metrics

from fusionlab.metrics import DEFAULT_METRICS, compute_metrics

LOOSE = {"VIF", "VIFF", "FMI_pixel", "Qcb", "Qcv"}


def _image(seed: int, size: tuple[int, int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(torch.rand(1, 1, size[0] + 6, size[1] + 6, generator=g, dtype=torch.float64), 7, stride=1)
    x = torch.round((x - x.amin()) / (x.amax() - x.amin()) * 255)
    x[..., :12, :30] = 0.0  # a flat patch
    return x


def _triple(size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    a, b = _image(3, size), _image(4, size)
    return torch.floor((a + b) / 2 + 0.5), a, b


def _relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / max(abs(theirs), 1e-12)


@pytest.mark.parametrize("name", DEFAULT_METRICS)
def test_baseline_agrees_with_fusionlab(name: str) -> None:
    f, a, b = _triple((176, 200))  # MS-SSIM needs min(H, W) > 160
    ours = compute_metrics(f, a, b, [name])[name].item()
    theirs = baseline_metrics()[name](*(x[0, 0].numpy() for x in (f, a, b)))
    assert math.isfinite(theirs)
    assert _relative(ours, theirs) <= (1e-3 if name in LOOSE else 1e-4), f"{name}: {ours!r} vs {theirs!r}"


def test_baseline_fmi_agrees_with_fusionlab() -> None:
    f, a, b = _triple((40, 48))
    ours = compute_metrics(f, a, b, ["FMI_pixel"])["FMI_pixel"].item()
    theirs = baseline_metrics()["FMI_pixel"](*(np.ascontiguousarray(x[0, 0].numpy()) for x in (f, a, b)))
    assert _relative(ours, theirs) <= 1e-3

"""Classical fusion baselines: zero-parameter ``nn.Module``s with the model contract ``forward(a, b) -> fused``.

They give every results table reference rows and catch broken learned models. ``build_baseline(name)``
instantiates one by name; ``BASELINES`` lists them.
"""

from __future__ import annotations

from torch import nn

from fusionlab.baselines.base import ClassicalFusion
from fusionlab.baselines.gff import GuidedFilterFusion
from fusionlab.baselines.laplacian import LaplacianFusion
from fusionlab.baselines.mertens import MertensFusion
from fusionlab.baselines.pixel import AverageFusion, MaxFusion
from fusionlab.baselines.wavelet import WaveletFusion

BASELINES: dict[str, type[ClassicalFusion]] = {
    "average": AverageFusion,
    "max": MaxFusion,
    "laplacian": LaplacianFusion,
    "wavelet": WaveletFusion,
    "gff": GuidedFilterFusion,
    "mertens": MertensFusion,
}


def build_baseline(name: str, **kwargs) -> nn.Module:
    """Instantiate the baseline called ``name`` (keyword arguments go to its constructor)."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; available: {', '.join(BASELINES)}")
    return BASELINES[name](**kwargs)


__all__ = [
    "BASELINES",
    "AverageFusion",
    "ClassicalFusion",
    "GuidedFilterFusion",
    "LaplacianFusion",
    "MaxFusion",
    "MertensFusion",
    "WaveletFusion",
    "build_baseline",
]

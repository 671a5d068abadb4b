"""Fusion quality metrics, computed once, in one place, with a named convention (DESIGN §5).

Inputs are ``(B, 1, H, W)`` luminance tensors on 0..255 as saved 8-bit images; values are float64 per image.
Definitions and conventions: ``../shared/research/metrics.md``; agreement is tested against
``../shared/reference/metrics_dev.csv``.
"""

from fusionlab.metrics.registry import (
    CONVENTIONS,
    DEFAULT_METRICS,
    METRICS,
    MetricSpec,
    compute_metrics,
    compute_reference_metrics,
    to_metric_range,
)
from fusionlab.metrics.torchmetric import FusionMetric, FusionMetricCollection, build_metric_collection

__all__ = [
    "CONVENTIONS",
    "DEFAULT_METRICS",
    "METRICS",
    "FusionMetric",
    "FusionMetricCollection",
    "MetricSpec",
    "build_metric_collection",
    "compute_metrics",
    "compute_reference_metrics",
    "to_metric_range",
]

"""Fusion quality metrics, computed once, in one place, with a named convention (DESIGN §5).

Inputs are ``(B, 1, H, W)`` luminance tensors on 0..255 as saved 8-bit images; values are float64 per image.
Each task has its own standard set (:data:`TASK_METRICS`, :func:`metrics_for_task`). Definitions, conventions
and sets: ``docs/metrics.md``; agreement is tested against ``../shared/reference/metrics_dev.csv`` and
``metrics_more_dev.csv``.
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
from fusionlab.metrics.shared import SourceCache
from fusionlab.metrics.tasks import TASK_METRICS, metrics_for_task
from fusionlab.metrics.torchmetric import FusionMetric, FusionMetricCollection, build_metric_collection

__all__ = [
    "CONVENTIONS",
    "DEFAULT_METRICS",
    "METRICS",
    "FusionMetric",
    "FusionMetricCollection",
    "MetricSpec",
    "SourceCache",
    "TASK_METRICS",
    "build_metric_collection",
    "compute_metrics",
    "compute_reference_metrics",
    "metrics_for_task",
    "to_metric_range",
]

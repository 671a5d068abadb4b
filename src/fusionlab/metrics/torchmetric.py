"""torchmetrics wrappers: one ``FusionMetric`` per (metric, convention), and a ``MetricCollection`` per task.

The state is the float64 sum of per-image values plus counts, all reduced with ``sum``: the mean over a
DDP-sharded test set is then exactly the mean over all images, whatever the sharding. Images where the metric
is undefined (NaN) are counted separately and left out of the mean.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection

from fusionlab.metrics.registry import (
    DEFAULT_METRICS,
    METRICS,
    _check_convention,
    _check_names,
    compute_metrics,
    to_metric_range,
)


class FusionMetric(Metric):
    """Dataset mean of one fusion metric. ``update(f, a, b)`` takes ``(B, 1, H, W)`` batches.

    Inputs are on 0..255 unless ``unit_range=True``, in which case [0, 1] images are first rounded to 8-bit
    levels with :func:`~fusionlab.metrics.to_metric_range` (what saving them as PNG would do).
    """

    is_differentiable = False
    full_state_update = False

    def __init__(self, name: str, convention: str = "cddfuse", unit_range: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        _check_names([name])
        _check_convention(convention)
        self.name = name
        self.convention = convention
        self.unit_range = unit_range
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("nan_count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @property
    def higher_is_better(self) -> bool | None:  # torchmetrics declares it per class; ours depends on the name
        return METRICS[self.name].higher_is_better

    def update(self, f: Tensor, a: Tensor, b: Tensor, values: Tensor | None = None) -> None:
        """Add a batch; ``values`` (per-image results already computed for this metric) skips the computation."""
        if values is None:
            if self.unit_range:
                f, a, b = (to_metric_range(x) for x in (f, a, b))
            values = compute_metrics(f, a, b, [self.name], self.convention)[self.name]
        values = values.to(device=self.total.device, dtype=torch.float64)
        valid = torch.isfinite(values)
        self.total += values[valid].sum()
        self.count += valid.sum()
        self.nan_count += (~valid).sum()

    def compute(self) -> Tensor:
        """Mean over images where the metric is defined; NaN if there are none."""
        if self.count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=self.total.device)
        return self.total / self.count


class FusionMetricCollection(MetricCollection):
    """A ``MetricCollection`` whose ``update`` computes all its metrics in one :func:`compute_metrics` call.

    Metrics of one family (VIF and VIFF) then share their intermediate maps instead of each recomputing them.
    """

    def update(self, f: Tensor, a: Tensor, b: Tensor) -> None:
        members = list(self.values(copy_state=False))
        unit_range = {m.unit_range for m in members}
        conventions = {m.convention for m in members}
        if len(unit_range) != 1 or len(conventions) != 1:
            super().update(f, a, b)
            return
        if unit_range.pop():
            f, a, b = (to_metric_range(x) for x in (f, a, b))
        values = compute_metrics(f, a, b, [m.name for m in members], conventions.pop())
        for m in members:
            m.update(f, a, b, values=values[m.name])


def build_metric_collection(
    names: Iterable[str] | None = None,
    convention: str = "cddfuse",
    prefix: str = "",
    unit_range: bool = False,
) -> MetricCollection:
    """A collection of :class:`FusionMetric` keyed by metric name (default: the standard table).

    Compute groups are disabled: they would merge metrics whose states happen to coincide.
    """
    names = _check_names(DEFAULT_METRICS if names is None else names)
    metrics = {n: FusionMetric(n, convention, unit_range=unit_range) for n in names}
    return FusionMetricCollection(metrics, prefix=prefix or None, compute_groups=False)

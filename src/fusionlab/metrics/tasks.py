"""Each task judged by its own field's standard: the metric set per fusion task, and how a run picks one.

The sets follow what each field's benchmark and papers report (docs/metrics.md has the sources):

* ``ivif``: the CDDFuse-family table (:data:`~fusionlab.metrics.DEFAULT_METRICS`) plus VIFB's CE, EI, RMSE.
* ``mif``: the same table as IVIF (medical papers report the CDDFuse-family columns).
* ``mef``: MEFB, led by MEF-SSIM (Ma et al. 2015) and the 3-level MEF-MS-SSIM that MEFB prints as "MEF_SSIM";
  ``Qw_mefb`` is MEFB's "Qw".
* ``mff``: Liu et al. (TPAMI 2012) / MFIFB: Q_Y, Q_C, Piella's Q_S/Q_W/Q_E, Q_P, Q_CB, Q_ABF, MI, ...

The config mirrors this table as ``eval.task_metrics`` (conf/eval/synthetic.yaml); an explicit ``eval.metrics``
list overrides every task, as it always did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fusionlab.metrics.registry import DEFAULT_METRICS, METRICS

TASK_METRICS: dict[str, list[str]] = {
    "ivif": [*DEFAULT_METRICS, "CE", "EI", "RMSE"],
    "mif": list(DEFAULT_METRICS),
    "mef": [
        "MEF_SSIM", "MEF_MSSSIM", "Qabf", "Qp", "Qc", "Qw_mefb", "Qy", "Qcb", "Qcv",
        "VIFF", "MI", "CE", "EN", "PSNR", "AG", "EI", "SD", "SF",
    ],
    "mff": [
        "Qy", "Qc", "Qs", "Qw", "Qe", "Qp", "Qcb", "Qabf", "MI",
        "Qcv", "VIFF", "EN", "SD", "SF", "AG", "EI",
    ],
}  # fmt: skip
"""The standard metric set of each task (a metric's position is its column order in the tables)."""


def _names(value: Sequence[str] | str, where: str) -> list[str]:
    names = [value] if isinstance(value, str) else [str(n) for n in value]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"{where}: unknown metric(s) {unknown}; available: {', '.join(METRICS)}")
    return names


def metrics_for_task(
    task: str,
    task_metrics: Mapping[str, Sequence[str]] | None = None,
    override: Sequence[str] | None = None,
) -> list[str]:
    """The metric names to evaluate a dataset of ``task`` with.

    Precedence: ``override`` (``eval.metrics``; when non-empty it is used for every task) > ``task_metrics[task]``
    (``eval.task_metrics``) > :data:`TASK_METRICS` ``[task]`` > :data:`DEFAULT_METRICS` (unknown task). Raises
    KeyError naming the config key for an unknown metric name.
    """
    if override:
        return _names(override, "eval.metrics")
    if task_metrics and task in task_metrics and task_metrics[task]:
        return _names(task_metrics[task], f"eval.task_metrics.{task}")
    return list(TASK_METRICS.get(task, DEFAULT_METRICS))

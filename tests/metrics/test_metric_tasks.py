"""Per-task metric sets: the built-in table, the config that mirrors it, and how a run picks a task's set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fusionlab.metrics import DEFAULT_METRICS, METRICS, TASK_METRICS, metrics_for_task

CONF_EVAL = Path(__file__).resolve().parents[2] / "conf" / "eval"


def test_each_task_has_its_fields_standard_set() -> None:
    assert set(TASK_METRICS) == {"ivif", "mif", "mef", "mff"}
    for task, names in TASK_METRICS.items():
        assert names and len(set(names)) == len(names), task
        assert all(n in METRICS for n in names), task
    assert TASK_METRICS["mef"][:2] == ["MEF_SSIM", "MEF_MSSSIM"]
    assert {"Qy", "Qc", "Qs", "Qw", "Qe", "Qp", "Qcb", "Qabf"} <= set(TASK_METRICS["mff"])
    assert {"CE", "EI", "RMSE"} <= set(TASK_METRICS["ivif"]) and set(DEFAULT_METRICS) <= set(TASK_METRICS["ivif"])
    assert "FMI_pixel" not in {n for names in TASK_METRICS.values() for n in names}  # slow: opt-in only


def test_config_mirrors_the_table() -> None:
    """``eval.task_metrics`` in conf/eval/synthetic.yaml (inherited by every suite) is the built-in table."""
    cfg = yaml.safe_load((CONF_EVAL / "synthetic.yaml").read_text())
    assert cfg["task_metrics"] == TASK_METRICS
    assert cfg["metrics"] is None


def test_composed_suite_keeps_the_mapping(compose) -> None:
    cfg = compose("eval=mef")
    assert list(cfg.eval.task_metrics.mef)[0] == "MEF_SSIM" and list(cfg.eval.suite) == ["mef"]
    assert metrics_for_task("mef", cfg.eval.task_metrics, cfg.eval.get("metrics")) == TASK_METRICS["mef"]
    override = compose("eval=mef", "eval.metrics=[EN,Qp]")
    assert metrics_for_task("mef", override.eval.task_metrics, override.eval.metrics) == ["EN", "Qp"]


def test_precedence() -> None:
    mapping = {"mef": ["Qy", "EN"]}
    assert metrics_for_task("mef", mapping, ["SSIM"]) == ["SSIM"]  # eval.metrics overrides every task
    assert metrics_for_task("mef", mapping, None) == ["Qy", "EN"]
    assert metrics_for_task("mef", mapping, []) == ["Qy", "EN"]  # an empty list counts as unset
    assert metrics_for_task("mff", mapping) == TASK_METRICS["mff"]  # task missing from the mapping
    assert metrics_for_task("mff") == TASK_METRICS["mff"]
    assert metrics_for_task("synthetic-other") == DEFAULT_METRICS  # unknown task
    assert metrics_for_task("mef", None, "EN") == ["EN"]


def test_unknown_names_name_the_config_key() -> None:
    with pytest.raises(KeyError, match=r"eval\.task_metrics\.mef: unknown metric\(s\) \['MEF-SSIM'\]"):
        metrics_for_task("mef", {"mef": ["MEF-SSIM"]})
    with pytest.raises(KeyError, match=r"eval\.metrics: unknown"):
        metrics_for_task("ivif", None, ["QQ"])

"""Sweeps through Hydra launchers and sweepers, and the aggregation of their output into one table."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from fusionlab.engine.ablation import collect_multirun

FAST = ["+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,SD,Qabf]", "eval.save_fused=false"]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "fusionlab.train", "-m", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.slow
def test_submitit_local_sweep_of_two_jobs_and_its_table(tmp_path):
    proc = _run(["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
                 *FAST, "methods=[average]", "loss.terms.ssim.weight=0,10", f"paths.log_dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(tmp_path.rglob("*/results.csv"))
    assert len(results) == 2, proc.stderr[-3000:]
    assert {p.parent.name for p in results} == {"0", "1"}  # one sub-folder per job of the sweep
    sweep_dir = results[0].parent.parent
    rows = collect_multirun(sweep_dir)
    assert {r["method"] for r in rows} == {"loss.terms.ssim.weight=0", "loss.terms.ssim.weight=10", "average"}
    with open(sweep_dir / "results.csv") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    assert "multirun:" in (sweep_dir / "results.md").read_text()


@pytest.mark.slow
def test_two_trial_optuna_sweep_optimises_validation_as_documented(tmp_path):
    # the README/issue command, as typed, plus size overrides only
    proc = _run(["+experiment=ivif_zero_shot", "+hparams_search=optuna_ivif", "hydra.sweeper.n_trials=2",
                 *FAST, f"paths.log_dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(tmp_path.rglob("*/results.csv"))) == 2
    best = list(tmp_path.rglob("optimization_results.yaml"))
    assert best and "best_value" in best[0].read_text()
    import yaml

    value = float(yaml.safe_load(best[0].read_text())["best_value"])
    assert 0.5 < value < 2.0  # val/quality: a ratio to the average rule on validation images, not a test mean


def test_sweep_on_a_test_key_is_refused_with_the_reason(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fusionlab.train", "+experiment=ivif_zero_shot",
                           "optimized_metric=test/mean/Qabf", f"hydra.run.dir={tmp_path / 'r'}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "error: optimized_metric=test/mean/Qabf selects on the test suite" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_collect_needs_a_finished_sweep(tmp_path):
    with pytest.raises(FileNotFoundError, match="no job folder with results.csv"):
        collect_multirun(tmp_path)

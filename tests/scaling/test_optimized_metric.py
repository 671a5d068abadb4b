"""Sweepers get a number back from a run: a logged metric or a mean from the results table."""

from __future__ import annotations

import pytest

from fusionlab.engine.run import run_training


def test_run_returns_the_optimized_metric(compose, tmp_path):
    out = run_training(compose("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,Qabf]",
                               "optimized_metric=test/mean/Qabf", "eval.baselines=[max]", output_dir=tmp_path / "r"))
    rows = [r for r in out["rows"] if r["method"] == "fusionnet-cnn"]  # the reference rows do not count
    assert rows and len(rows) < len(out["rows"])
    assert out["objective"] == pytest.approx(sum(float(r["Qabf"]) for r in rows) / len(rows))


def test_optuna_search_space_composes(compose):
    cfg = compose("+experiment=ivif_zero_shot", "+hparams_search=optuna_ivif")
    assert cfg.optimized_metric == "test/mean/Qabf"

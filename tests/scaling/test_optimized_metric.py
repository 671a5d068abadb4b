"""Sweepers get a validation number back from a run; selecting on the test suite is refused (issue 15)."""

from __future__ import annotations

import pytest

from fusionlab.engine.run import run_training
from fusionlab.errors import ConfigError

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,Qabf]", "methods=[max]")


def test_run_returns_the_validation_objective(compose, tmp_path):
    out = run_training(compose(*FAST, "optimized_metric=val/quality", output_dir=tmp_path / "r"))
    trainer = out["trainer"]
    best = trainer.checkpoint_callback.best_model_score
    assert out["objective"] == pytest.approx(float(best))  # the monitored key: its best value, not the last
    assert 0.5 < out["objective"] < 2.0  # a ratio to the average rule on the validation images


def test_any_logged_validation_key_can_be_optimised(compose, tmp_path):
    out = run_training(compose(*FAST, "optimized_metric=val/mean/Qabf", output_dir=tmp_path / "r"))
    import csv

    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        logged = [float(r["val/mean/Qabf"]) for r in csv.DictReader(fh) if r.get("val/mean/Qabf")]
    assert logged and out["objective"] == pytest.approx(logged[-1])  # the last validation's value


@pytest.mark.parametrize("key", ["optimized_metric=test/mean/Qabf",
                                 "callbacks.model_checkpoint.monitor=test/synthetic/ivif/Qabf"])
def test_selection_on_the_test_suite_is_refused(compose, tmp_path, key):
    with pytest.raises(ConfigError, match="selects on the test suite.*allow_test_selection=true"):
        run_training(compose(*FAST, key, output_dir=tmp_path / "r"))
    assert not (tmp_path / "r" / "checkpoints").exists()  # refused before any training


def test_the_documented_opt_out_is_written_into_results(compose, tmp_path):
    out = run_training(compose(*FAST, "optimized_metric=test/mean/Qabf", "allow_test_selection=true",
                               output_dir=tmp_path / "r"))
    rows = [r for r in out["rows"] if r["method"] == "fusionnet-cnn"]  # the reference rows do not count
    assert rows and len(rows) < len(out["rows"])
    assert out["objective"] == pytest.approx(sum(float(r["Qabf"]) for r in rows) / len(rows))
    assert "allow_test_selection=true" in (tmp_path / "r" / "results.md").read_text()


def test_optuna_search_space_optimises_validation(compose):
    cfg = compose("+experiment=ivif_zero_shot", "+hparams_search=optuna_ivif")
    assert cfg.optimized_metric.startswith("val/")

"""The evaluated checkpoint is chosen by the validation quality criterion, never by the test suite (issue 15)."""

from __future__ import annotations

import csv

import lightning as L
import torch

from fusionlab.engine import run as run_module
from fusionlab.engine.run import run_training
from fusionlab.engine.validation import HEADLINE_METRICS

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,Qabf]", "trainer.max_steps=-1",
        "trainer.max_epochs=2", "data.samples_per_epoch=8")


class _RuinSecondEpoch(L.Callback):
    """Replace the weights with noise before the second validation: that checkpoint is clearly worse."""

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                for p in pl_module.model.parameters():
                    p.add_(torch.randn_like(p))


def test_validation_quality_picks_the_better_of_two_checkpoints(compose, tmp_path, monkeypatch):
    original = run_module.build_trainer

    def with_saboteur(cfg):
        trainer = original(cfg)
        trainer.callbacks.append(_RuinSecondEpoch())
        return trainer

    monkeypatch.setattr(run_module, "build_trainer", with_saboteur)
    out = run_training(compose(*FAST, output_dir=tmp_path / "r"))
    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        quality = [float(r["val/quality"]) for r in csv.DictReader(fh) if r.get("val/quality")]
    assert len(quality) == 2 and quality[0] > quality[1]  # the ruined epoch scores lower
    assert "epoch000" in out["ckpt_path"]  # so the first epoch's checkpoint is the one evaluated
    md = (tmp_path / "r" / "results.md").read_text()
    assert f"Checkpoint evaluated: {out['ckpt_path']}, selected by best val/quality (max) = {quality[0]:.4f}" in md


def test_validation_logs_the_headline_metrics_per_dataset_and_mean(compose, tmp_path):
    run_training(compose(*FAST, "trainer.max_epochs=1", output_dir=tmp_path / "r"))
    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        logged = {k for r in csv.DictReader(fh) for k, v in r.items() if v}
    for metric in HEADLINE_METRICS:
        assert f"val/synthetic/ivif/{metric}" in logged and f"val/mean/{metric}" in logged
    assert {"val/quality", "val/loss"} <= logged
    assert not any(k.startswith("val/synthetic/mef") for k in logged)  # only the training task validates


def test_a_tiny_real_validation_split_is_joined_by_its_tasks_synthetic_set(compose, data_dir):
    from fusionlab.engine.run import build_datamodule

    dm = build_datamodule(compose("+experiment=ivif_zero_shot", f"paths.data_dir={data_dir}", "data.mode=real"))
    dm.setup("fit")
    assert len(dm._val["msrs"]) < dm.min_val_images  # the shared sample: one validation pair
    assert list(dm.val_names) == ["msrs", "synthetic/ivif"]  # never a test dataset
    dm = build_datamodule(compose("+experiment=ivif_zero_shot", f"paths.data_dir={data_dir}", "data.mode=real",
                                  "data.min_val_images=1"))
    dm.setup("fit")
    assert list(dm.val_names) == ["msrs"]


def test_a_negative_min_val_images_is_a_clear_error(compose):
    import pytest

    from fusionlab.cli import user_error_message
    from fusionlab.engine.run import build_datamodule

    with pytest.raises(Exception) as info:  # Hydra wraps the constructor's error; the CLI shows its one line
        build_datamodule(compose("+debug=fast", "data.min_val_images=-1"))
    assert user_error_message(info.value) == "data.min_val_images must be >= 0, got -1"

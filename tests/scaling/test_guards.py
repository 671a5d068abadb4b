"""Reliability guards: non-finite losses, determinism, bf16, truncated checkpoints, finished run folders."""

from __future__ import annotations

import csv

import pytest
import torch

from fusionlab.engine.run import build_datamodule, build_module, build_trainer, read_checkpoint, run_training
from fusionlab.errors import NonFiniteLossError

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,SD,SF,SSIM]", "eval.save_fused=false")


def test_non_finite_loss_names_the_term_and_step_and_keeps_the_last_good_checkpoint(compose, tmp_path):
    cfg = compose(*FAST, "trainer.max_steps=6", "callbacks.last_checkpoint.every_n_train_steps=1",
                  output_dir=tmp_path / "run")
    module, datamodule, trainer = build_module(cfg), build_datamodule(cfg), build_trainer(cfg)
    ssim = module.objective.terms["ssim"]
    original = ssim.compute

    def poisoned(fused, batch):
        value = original(fused, batch)
        return value * float("nan") if module.global_step >= 3 else value

    ssim.compute = poisoned
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 3: term\(s\) ssim = ssim=nan"):
        trainer.fit(module, datamodule=datamodule)
    last = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


def _metrics(path):
    with open(path) as fh:
        return [{k: v for k, v in r.items()} for r in csv.DictReader(fh)]


def test_deterministic_runs_are_identical(compose, tmp_path):
    runs = []
    for name in ("a", "b"):
        run_training(compose(*FAST, "seed=11", "trainer.deterministic=true", output_dir=tmp_path / name))
        runs.append(_metrics(tmp_path / name / "results.csv"))
    assert runs[0] == runs[1]


def test_bf16_mixed_fit_has_finite_losses(compose, tmp_path):
    out = run_training(compose(*FAST, "trainer.precision=bf16-mixed", "trainer.max_steps=3", output_dir=tmp_path / "r"))
    assert out["trainer"].precision == "bf16-mixed"
    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        losses = [float(r["train/loss"]) for r in csv.DictReader(fh) if r.get("train/loss")]
    assert losses and all(torch.isfinite(torch.tensor(losses)))


def test_truncated_checkpoint_and_finished_run_folder(compose, tmp_path):
    out = run_training(compose(*FAST, output_dir=tmp_path / "r"))
    good = out["ckpt_path"]
    truncated = tmp_path / "trunc.ckpt"
    truncated.write_bytes(open(good, "rb").read()[:2000])
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*trunc.ckpt.*truncated"):
        run_training(compose(*FAST, f"ckpt_path={truncated}", output_dir=tmp_path / "r2"))
    with pytest.raises(FileExistsError, match=r"already holds results.csv"):
        run_training(compose(*FAST, output_dir=tmp_path / "r"))

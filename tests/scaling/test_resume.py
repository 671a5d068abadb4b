"""Crash and resume: a training process killed with SIGKILL resumes to the same weights and metrics."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fusionlab.engine.run import run_training

RUN = ("data.mode=synthetic", "logger=csv", "callbacks.progress_bar=null", "eval=synthetic",
       "eval.suite=[synthetic/ivif]", "eval.metrics=[EN,SD,SF]", "eval.save_fused=false",
       "data.patch_size=48", "data.batch_size=4", "data.samples_per_epoch=48", "trainer.max_epochs=3",
       "+trainer.limit_val_batches=2", "data.options.synthetic.eval_size=48",
       "data.options.synthetic.lengths.test=2", "data.options.synthetic.lengths.val=2",
       "callbacks.last_checkpoint.every_n_train_steps=2", "seed=5")


def _weights(ckpt):
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(compose, tmp_path):
    reference = run_training(compose(*RUN, output_dir=tmp_path / "ref"))
    ref_last = tmp_path / "ref" / "checkpoints" / "last.ckpt"

    run_dir = tmp_path / "crash"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fusionlab.train", *RUN, f"hydra.run.dir={run_dir}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        if last.is_file():
            try:
                step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
            except Exception:  # noqa: BLE001 - file being written
                step = None
            if step is not None and 2 <= step < 30:
                proc.send_signal(signal.SIGKILL)
                killed_at = step
                break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert killed_at is not None, "the training process finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "results.csv").exists()

    resumed = run_training(compose(*RUN, "ckpt_path=last", output_dir=run_dir))
    assert resumed["trainer"].global_step == reference["trainer"].global_step == 36
    w_ref, w_res = _weights(ref_last), _weights(run_dir / "checkpoints" / "last.ckpt")
    for key in w_ref:
        assert torch.allclose(w_ref[key], w_res[key], atol=1e-6, rtol=0), key
    ref_rows, res_rows = _rows(tmp_path / "ref" / "results.csv"), _rows(run_dir / "results.csv")
    for a, b in zip(ref_rows, res_rows, strict=True):
        for k in ("EN", "SD", "SF"):
            assert abs(float(a[k]) - float(b[k])) <= 1e-6 * max(1, abs(float(a[k]))), (k, killed_at)

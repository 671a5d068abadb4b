"""Sweeps through a Hydra launcher: `submitit_local` stands in for `submitit_slurm` on this machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_submitit_local_sweep_of_two_jobs(tmp_path):
    cmd = [sys.executable, "-m", "fusionlab.train", "-m", "hydra/launcher=submitit_local",
           "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1", "+debug=fast", "data.mode=synthetic",
           "logger=csv", "eval.metrics=[EN,SD]", "eval.save_fused=false", "seed=1,2", f"paths.log_dir={tmp_path}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(tmp_path.rglob("results.csv"))
    assert len(results) == 2, proc.stderr[-3000:]
    assert {p.parent.name for p in results} == {"0", "1"}  # one sub-folder per job of the sweep
    assert results[0].read_text() != results[1].read_text()  # different seeds, different models

"""End to end: compose the real config, fit a few steps, evaluate the suite, check the run folder."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fusionlab.engine.run import run_training

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,SD,SF,AG,SSIM,Qabf]")


def _results(run_dir: Path) -> list[dict]:
    with open(run_dir / "results.csv") as fh:
        return list(csv.DictReader(fh))


def test_tiny_fit_and_zero_shot_evaluation(compose, tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose("+experiment=ivif_zero_shot", *FAST, "methods=[average]", output_dir=run_dir)
    out = run_training(cfg)
    all_rows = _results(run_dir)
    assert [r for r in all_rows if r["method"] == "average"]  # classical reference rows in the same table
    assert not (run_dir / ".results_partial.json").exists()
    rows = [r for r in all_rows if r["method"] != "average"]
    assert {r["task"] for r in rows} == {"ivif", "mif", "mef", "mff"}
    assert {r["dataset"] for r in rows} == {"synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"}
    assert len(rows) == 4 * 2  # two test images per synthetic dataset in +debug=fast
    for r in rows:
        assert r["method"] == "fusionnet-cnn"
        for m in ("EN", "SD", "SF", "AG", "SSIM", "Qabf", "PSNR_gt", "SSIM_gt"):
            assert math.isfinite(float(r[m])), (m, r)
    md = (run_dir / "results.md").read_text()
    assert all(f"## {task}" in md for task in ("IVIF", "MIF", "MEF", "MFF")) and "cddfuse" in md
    assert "Data mode: synthetic" in md and "selected by best val/quality (max)" in md
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert out["ckpt_path"] and Path(out["ckpt_path"]).is_file()
    # fused images with colour restored where a source had colour (MEF: both sources are colour)
    from PIL import Image

    mef = sorted((run_dir / "fused" / "synthetic" / "mef").glob("*.png"))
    assert len(mef) == 2 and Image.open(mef[0]).mode == "RGB"
    ct_or_pet = sorted((run_dir / "fused" / "synthetic" / "mif").glob("*.png"))
    assert len(ct_or_pet) == 2
    assert len(list((run_dir / "grids").glob("*.png"))) == 4
    # per-term training losses are logged
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0]
    for term in ("train/loss/intensity", "train/loss/gradient", "train/loss/ssim"):
        assert term in header


def test_same_seed_same_metrics(compose, tmp_path):
    def run(name: str) -> list[dict]:
        cfg = compose(*FAST, "seed=3", "callbacks=none", "eval.save_fused=false", output_dir=tmp_path / name)
        run_training(cfg)
        return _results(tmp_path / name)

    first, second = run("one"), run("two")
    assert first == second
    third = [r for r in _results(tmp_path / "one")]
    assert third == first


def test_wandb_offline_run_is_written(compose, tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose(*FAST[:2], "logger=wandb", "eval.metrics=[EN,SSIM]", "eval.suite=[synthetic/mff]",
                  output_dir=run_dir)
    run_training(cfg)
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    media = runs[0] / "files" / "media"
    assert list((media / "table").glob("results_*.table.json"))
    assert len(list((media / "images" / "panels").rglob("*.png"))) == 2  # a | b | fused panels
    (record,) = runs[0].glob("*.wandb")
    deadline = time.monotonic() + 30  # wandb-core (a separate process) may still be flushing the record file
    while b"model/params_total" not in (data := record.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    for needle in (b"task_name", b"train/loss/intensity", b"train/loss/ssim", b"model/params_total"):
        assert needle in data, needle


@pytest.mark.slow
def test_cli_errors_are_one_line_and_non_zero(tmp_path):
    cmd = [sys.executable, "-m", "fusionlab.train", "+experiment=ivif_zero_shot", "data.mode=real",
           f"paths.data_dir={tmp_path / 'empty'}", f"paths.log_dir={tmp_path / 'out'}", "logger=csv"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert err_lines == [f"error: MSRS not found at {tmp_path / 'empty' / 'msrs'}: set paths.data_dir or "
                         "FUSIONLAB_DATA (or use data.mode=synthetic for the embedded suite)"]
    assert not list((tmp_path / "out").rglob("results.csv"))

    bad_weight = subprocess.run([*cmd[:3], "+debug=fast", "data.mode=synthetic", "loss.terms.ssim.weight=-1",
                                 f"paths.log_dir={tmp_path / 'out'}", "logger=csv"],
                                capture_output=True, text=True, timeout=300)
    assert bad_weight.returncode == 2
    assert "error: loss weight must be a finite number >= 0, got -1.0 for term" in bad_weight.stderr
    assert "config key: loss" in bad_weight.stderr


def test_untrained_default_is_evaluated_through_the_cli(tmp_path):
    """docs/quality.md "What training adds": the documented command with trainer.max_steps=0 evaluates the untrained network
    (the head's activity priors alone). On multi-focus pairs the priors follow the sharp source, so the output is
    sharper than the average rule's, and no checkpoint is selected (nothing was trained)."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "fusionlab.train", "+experiment=ivif_zero_shot", "data.mode=synthetic",
           "trainer.max_steps=0", "methods=[average]", "eval.suite=[synthetic/mff]", "eval.metrics=[SF]",
           "eval.save_fused=false", "logger=csv", f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = _results(run_dir)
    sf = {m: [float(r["SF"]) for r in rows if r["method"] == m] for m in {r["method"] for r in rows}}
    assert set(sf) == {"fusionnet-cnn", "average"} and len(sf["average"]) >= 4
    assert sum(sf["fusionnet-cnn"]) > 1.3 * sum(sf["average"])
    assert not list((run_dir / "checkpoints").glob("epoch*.ckpt"))


def test_seeds_are_scored_on_one_synthetic_suite(tmp_path):
    """docs/quality.md compares the demo's seeds (``seed=N`` on its command): through the CLI, two seeds see the
    same synthetic test pairs (the classical rows are identical), unless ``data.options.synthetic.test_seed=null``."""
    def average_rows(name: str, *overrides: str) -> list[dict]:
        run_dir = tmp_path / name
        cmd = [sys.executable, "-m", "fusionlab.train", "+experiment=ivif_zero_shot", "data.mode=synthetic",
               *FAST, "methods=[average]", "eval.save_fused=false", f"hydra.run.dir={run_dir}", *overrides]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return [r for r in _results(run_dir) if r["method"] == "average"]

    two, three = average_rows("seed2", "seed=2"), average_rows("seed3", "seed=3")
    assert len(two) == 8 and two == three
    assert average_rows("seed3_own", "seed=3", "data.options.synthetic.test_seed=null") != three

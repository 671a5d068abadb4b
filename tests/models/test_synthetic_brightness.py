"""experiments/synthetic_brightness.py (behind docs/quality.md's reading of the synthetic IVIF gap): where a fused
image misses the synthetic ground truth, in its brightness or in its structure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "synthetic_brightness.py"
sys.path.insert(0, str(REPO / "experiments"))
import synthetic_brightness as probe  # noqa: E402

from fusionlab.baselines import build_baseline  # noqa: E402
from fusionlab.inference.runner import load_model  # noqa: E402
from fusionlab.pretrained import pretrained_path  # noqa: E402


def test_psnr_and_offset_removal():
    t = torch.full((1, 1, 4, 4), 0.5)
    assert probe.psnr(t + 0.1, t) == pytest.approx(20.0)
    assert probe.psnr(t, t) == pytest.approx(120.0)  # clamped, not infinite


def test_the_ivif_gap_is_brightness_on_the_documented_pairs():
    """What docs/quality.md reads from the script, on the suite's 8 pairs: the well-lit target is brighter than the
    model's and averaging's output, and with the offset removed the model moves ahead of max."""
    model = load_model(pretrained_path("fusionnet_ivif")).model
    table = probe.brightness_table(model, "ivif", pairs=8)
    assert set(table) == {"model", *probe.RULES}
    target = table["model"]["target mean"]
    assert all(row["target mean"] == target for row in table.values())
    assert table["model"]["output mean"] < table["max"]["output mean"] < target
    assert table["model"]["PSNR_gt"] < table["max"]["PSNR_gt"]
    assert table["model"]["offset removed"] > table["max"]["offset removed"]
    for row in table.values():  # moving the mean to the target's can only lower the error
        assert row["offset removed"] >= row["PSNR_gt"] - 1e-9


def test_rules_are_scored_as_the_baselines_fuse():
    table = probe.brightness_table(build_baseline("average"), "mff", pairs=2)
    assert table["model"] == pytest.approx(table["average"])  # the "model" here is the average rule itself


def test_documented_command_runs_as_typed():
    """docs/quality.md's command, with fewer pairs (size only) and the other task it names."""
    for task in ("ivif", "mef"):
        proc = subprocess.run([sys.executable, str(SCRIPT), "--task", task, "--pairs", "2"], cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = re.findall(r"^\| (\w+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", proc.stdout, re.M)
        assert [r[0] for r in rows] == ["model", *probe.RULES]
        assert f"synthetic/{task}, 2 test pairs" in proc.stdout


def test_bad_pairs_is_refused():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--pairs", "0"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "--pairs must be at least 1" in proc.stderr

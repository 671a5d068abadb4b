"""experiments/synthetic_val_psnr.py (behind docs/quality.md's choice of the two-band base blend): ground-truth
PSNR on the synthetic validation pairs, for trained checkpoints next to the classical rules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))
import synthetic_val_psnr as probe  # noqa: E402

from fusionlab.pretrained import WEIGHTS_DIR  # noqa: E402

SHIPPED = WEIGHTS_DIR / "fusionnet_ivif.pt"


def test_bad_arguments_name_what_is_wrong(tmp_path):
    with pytest.raises(SystemExit, match="LABEL=CKPT"):
        probe.parse_runs([str(SHIPPED)])
    with pytest.raises(SystemExit, match="missing.ckpt"):
        probe.parse_runs([f"x={tmp_path / 'missing.ckpt'}"])
    assert probe.parse_runs([f"a={SHIPPED}", f"a={SHIPPED}"]) == [("a", SHIPPED), ("a", SHIPPED)]


def test_table_scores_checkpoints_and_rules_on_validation_pairs(monkeypatch, capsys):
    """One task (multi-focus) to stay fast: the shipped model is a multi-focus fuser far above averaging there (the
    ground truth is the all-in-focus image), a label given twice reports a zero spread, and every rule has a column."""
    monkeypatch.setattr(probe, "TASKS", ("synthetic/mff",))
    probe.main([f"shipped={SHIPPED}", f"shipped={SHIPPED}"])
    out = capsys.readouterr().out
    header = re.search(r"^\| task \| (.+) \|$", out, re.M).group(1).split(" | ")
    assert header == ["shipped", *probe.RULES]
    row = re.search(r"^\| synthetic/mff \| (.+) \|$", out, re.M).group(1).split(" | ")
    model, spread = (float(x) for x in row[0].split(" ± "))
    rules = dict(zip(probe.RULES, map(float, row[1:])))
    assert spread == 0.0
    assert model > rules["average"] + 5.0 and model > rules["max"] + 5.0


def test_more_pairs_and_another_draw_when_asked(monkeypatch, capsys):
    """``--pairs N`` (one pair's PSNR_gt varies by several dB, docs/quality.md): the default equals ``--pairs 8``,
    a larger draw changes the mean, ``--seed`` another draw, and a count below one is refused by name."""
    monkeypatch.setattr(probe, "TASKS", ("synthetic/mef",))
    rows = {}
    for extra in ([], ["--pairs", "8"], ["--pairs", "2"], ["--pairs", "2", "--seed", "1"]):
        probe.main([f"shipped={SHIPPED}", *extra])
        out = capsys.readouterr().out
        rows[" ".join(extra)] = re.search(r"^\| synthetic/mef \| (.+) \|$", out, re.M).group(1)
    assert "2 synthetic validation pairs per task (seed 1)" in out
    assert rows[""] == rows["--pairs 8"]
    assert rows["--pairs 2"] != rows["--pairs 8"] and rows["--pairs 2"] != rows["--pairs 2 --seed 1"]
    with pytest.raises(SystemExit, match="--pairs must be at least 1"):
        probe.main([f"shipped={SHIPPED}", "--pairs", "0"])


def test_documented_command_runs_as_typed():
    """docs/quality.md's command for the shipped weights, through the real script (the pair count reduced)."""

    doc = (REPO / "docs" / "quality.md").read_text()
    command = "python experiments/synthetic_val_psnr.py shipped=src/fusionlab/pretrained/fusionnet_ivif.pt --pairs 64"
    assert command in doc and SHIPPED == REPO / "src/fusionlab/pretrained/fusionnet_ivif.pt"
    args = command.split()[1:-1] + ["2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    out = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"^\| (synthetic/\w+) \| (\d+\.\d\d) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == list(probe.TASKS)

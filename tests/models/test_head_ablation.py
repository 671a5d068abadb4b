"""experiments/head_ablation.py (behind docs/quality.md's "What training adds"): each learned output of the two-scale
head switched off exactly, scored on the synthetic ground truth, run as the docs type it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))
import head_ablation  # noqa: E402

from fusionlab.models import FusionNet  # noqa: E402
from fusionlab.models.backbones.cnn import DenseCNN  # noqa: E402


def test_switching_everything_off_leaves_the_priors():
    """``priors_alone`` zeroes every learned output: the same image as the head with its last layer zeroed, and a
    trained-looking head (random last layer) differs from it."""
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_prior=20.0, detail_prior=20.0,
                    learn_base_blend=False, base_coarse_radius=16, base_in_range=True).eval()
    torch.nn.init.normal_(net.decoder.head[-1].weight, std=0.5)
    a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    reference = head_ablation.without(net, ())
    torch.nn.init.zeros_(reference.decoder.head[-1].weight)
    torch.nn.init.zeros_(reference.decoder.head[-1].bias)
    with torch.no_grad():
        priors = head_ablation.without(net, head_ablation.SWITCHED_OFF["priors_alone"])(a, b)
        assert torch.equal(priors, reference(a, b))
        assert (net(a, b) - priors).abs().max() > 1e-3
        no_corr = head_ablation.without(net, (4,))(a, b)
        assert (no_corr - priors).abs().max() > 1e-4  # the detail logits still act
    assert (net.decoder.head[-1].weight[4] != 0).any()  # the original is left untouched


def test_other_heads_are_refused_by_name():
    net = FusionNet(DenseCNN(width=4, layers=1), head="weights")
    with pytest.raises(SystemExit, match="model.head=two_scale"):
        head_ablation.without(net, (2,))


def test_documented_command_runs_on_the_shipped_weights():
    """docs/quality.md's command, one pair per task (size only): a row per task, and the shipped weights' learned
    outputs move the ground truth by less than 0.2 dB (what the docs read from the 8-pair run)."""
    command = "python experiments/head_ablation.py fusionnet_ivif"
    assert command in (REPO / "docs" / "quality.md").read_text()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    out = subprocess.run([sys.executable, *command.split()[1:], "--pairs", "1"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"^\| fusionnet_ivif \| (synthetic/\w+) \| (.+) \|$", out.stdout, re.M)
    assert [r[0] for r in rows] == list(head_ablation.TASKS)
    for _, cells in rows:
        parsed = [re.fullmatch(r"(\d+\.\d\d) \(([+-]\d+\.\d\d)\)", v) for v in cells.split(" | ")]
        assert len(parsed) == 4 and all(parsed), cells
        (trained, trained_offset), *_, (priors, priors_offset) = ((float(m[1]), float(m[2])) for m in parsed)
        assert abs(trained - priors) < 0.2 and abs(trained_offset - priors_offset) < 0.5
    bad = subprocess.run([sys.executable, *command.split()[1:], "--pairs", "0"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--pairs must be at least 1" in bad.stderr
    missing = subprocess.run([sys.executable, "experiments/head_ablation.py", "nowhere.ckpt"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "nowhere.ckpt" in missing.stderr

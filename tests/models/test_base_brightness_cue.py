"""experiments/base_brightness_cue.py (the diagnostic behind docs/quality.md's "Training on what is measured") runs as
documented, and its share reads what the head's base logits do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fusionlab.models import FusionNet
from fusionlab.models.backbones.cnn import DenseCNN

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "base_brightness_cue.py"
sys.path.insert(0, str(SCRIPT.parent))
from base_brightness_cue import brighter_base_share  # noqa: E402


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(1, 1, 32, 32, generator=g)
    return 0.6 + 0.3 * texture, 0.1 + 0.3 * torch.rand(1, 1, 32, 32, generator=g)  # a brighter everywhere


def _net() -> FusionNet:
    return FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=2, base_prior=20.0).eval()


def test_share_is_the_prior_when_the_head_is_silent():
    net = _net()
    torch.nn.init.zeros_(net.decoder.head[-1].weight)
    prior, learned = brighter_base_share(net, *_pair())
    assert learned == pytest.approx(prior, abs=1e-6)
    assert 0.0 <= prior <= 1.0


def test_share_rises_when_the_head_favours_the_brighter_base():
    net = _net()
    torch.nn.init.zeros_(net.decoder.head[-1].weight)
    with torch.no_grad():
        net.decoder.head[-1].bias[:2] = torch.tensor([3.0, -3.0])  # base logits: follow source a (the brighter)
    prior, learned = brighter_base_share(net, *_pair())
    assert learned > prior + 0.1
    a, b = _pair()
    _, learned_swapped = brighter_base_share(net, b, a)  # now the favoured input is the darker one
    assert learned_swapped < prior


def test_needs_a_base_prior():
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale").eval()
    with pytest.raises(ValueError, match="base_prior"):
        brighter_base_share(net, *_pair())


def test_documented_command_runs_on_real_pairs(data_dir, tmp_path):
    readme = (REPO / "docs" / "quality.md").read_text()
    assert "python experiments/base_brightness_cue.py" in readme
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    cmd = [sys.executable, str(SCRIPT), "fusionnet_ivif", "--data-dir", str(data_dir), "--pairs", "1",
           "--datasets", "lytro", "harvard/PET-MRI"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = re.search(r"^\| fusionnet_ivif \| ([\d.]+) -> ([\d.]+) \| ([\d.]+) -> ([\d.]+) \|$", out.stdout, re.M)
    assert row, out.stdout
    assert all(0.0 <= float(v) <= 1.0 for v in row.groups())

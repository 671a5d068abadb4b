"""Shipped pretrained weights: they load on a fresh install, reproduce their recorded metrics, and the documented
``pretrained=NAME`` commands of fuse, evaluate and export work through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fusionlab.errors import ConfigError, UnknownNameError
from fusionlab.pretrained import available, card, pretrained_path, read_pair, resolve_checkpoint, score_model

NAME = "fusionnet_ivif"
REPO = Path(__file__).resolve().parents[2]


def test_default_weights_are_shipped_small_and_described():
    assert NAME in available()
    path = pretrained_path(NAME)
    assert path.stat().st_size <= 2_000_000, "shipped weights must stay under 2 MB"
    info = card(NAME)
    assert info["recipe"].startswith("python -m fusionlab.train +experiment=")
    assert set(info["metrics"]) == {"EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM"}
    assert info["parameters"] <= 500_000


def test_weights_reproduce_their_recorded_metrics(data_dir):
    from fusionlab.engine.checkpoints import load_evaluation_model

    loaded = load_evaluation_model(pretrained_path(NAME))
    got = score_model(loaded.model, *read_pair(data_dir))
    for name, want in card(NAME)["metrics"].items():
        assert got[name] == pytest.approx(want, rel=1e-4, abs=1e-6), name


def test_weights_were_trained_with_the_config_their_recipe_composes_today():
    """The shipped weights must be what their recipe trains: when the default experiment's model changes (e.g. the
    base blend), this fails until the weights are re-packed (``python -m fusionlab.pretrained pack``)."""
    import shlex

    import yaml

    from fusionlab.engine.checkpoints import read_checkpoint

    recipe = shlex.split(card(NAME)["recipe"])
    assert recipe[:3] == ["python", "-m", "fusionlab.train"], recipe
    ran = _run(*recipe[2:], "--cfg", "job", "--package", "model", "--resolve", cwd=REPO)
    assert ran.returncode == 0, ran.stderr
    composed = yaml.safe_load(ran.stdout)
    shipped = read_checkpoint(pretrained_path(NAME))["fusionlab"]["model"]
    assert composed == shipped, "re-pack the shipped weights from their recipe: the recipe's model config changed"


def test_unknown_name_and_both_keys_are_refused():
    with pytest.raises(UnknownNameError, match=f"available: .*{NAME}"):
        pretrained_path("no_such_weights")
    with pytest.raises(ConfigError, match="not both"):
        resolve_checkpoint(OmegaConf.create({"pretrained": NAME, "ckpt_path": "x.ckpt"}))
    assert resolve_checkpoint(OmegaConf.create({"pretrained": NAME})) == str(pretrained_path(NAME))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_fuse_cli_with_pretrained_weights(data_dir, tmp_path):
    ir, vi = (data_dir / "msrs" / "test" / sub / "00004N.png" for sub in ("ir", "vi"))
    ran = _run("fusionlab.fuse", f"pretrained={NAME}", f"a={ir}", f"b={vi}", f"out={tmp_path / 'fused'}",
               f"hydra.run.dir={tmp_path / 'log'}", "progress=false", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (tmp_path / "fused" / "00004N.png").is_file()
    assert NAME in ran.stdout


@pytest.mark.slow
def test_fuse_cli_refuses_unknown_pretrained_name(data_dir, tmp_path):
    ir, vi = (data_dir / "msrs" / "test" / sub / "00004N.png" for sub in ("ir", "vi"))
    ran = _run("fusionlab.fuse", "pretrained=nope", f"a={ir}", f"b={vi}", f"out={tmp_path / 'o'}",
               f"hydra.run.dir={tmp_path / 'log'}", cwd=tmp_path)
    assert ran.returncode == 2
    assert "available:" in ran.stderr and NAME in ran.stderr

"""Fixtures for the inference tests: a small FusionNet checkpoint with its run config, as a run leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf


def make_checkpoint(run_dir: Path, *overrides: str) -> Path:
    """``<run>/checkpoints/last.ckpt`` + ``<run>/.hydra/config.yaml`` for a freshly initialised model.

    Training is not needed to test inference plumbing; the Lightning layout (``model.`` prefix) and the
    run config beside it are what ``load_model`` relies on.
    """
    from fusionlab.config import compose

    cfg = compose(["data=ivif", "model.backbone.width=4", *overrides], output_dir=run_dir)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return ckpt


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "run")

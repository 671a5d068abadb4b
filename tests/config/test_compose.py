"""Compose the real config tree as the CLI does, for every option of every group."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from fusionlab.config import conf_dir

CONF = conf_dir()
GROUPS = ["data", "model", "model/backbone", "loss", "optim", "trainer", "logger", "callbacks", "eval", "paths"]
SKIP = {("trainer", "ddp"), ("trainer", "ddp_spawn"), ("trainer", "slurm")}  # exercised by the scaling tests


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in _options(g) if (g, o) not in SKIP]


def test_conf_dir_is_found_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (conf_dir() / "train.yaml").is_file()


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_group_option_composes_and_instantiates(group, option, compose, tmp_path):
    cfg = compose(f"{group}={option}", "+debug=fast", "data.mode=synthetic")
    node = cfg
    for part in group.split("/"):
        node = node[part]
    if group == "model/backbone":
        model = instantiate(cfg.model)
        x = torch.rand(1, 1, 37, 53)
        assert model(x, x).shape == x.shape
    elif group == "model":
        assert instantiate(cfg.model) is not None
    elif group == "data":
        dm = instantiate(cfg.data, _convert_="all")
        assert dm.train_entries
    elif group == "loss":
        from fusionlab.models import FusionNet
        from fusionlab.models.backbones import DenseCNN

        objective = instantiate(cfg.loss, _convert_="all")
        model = FusionNet(DenseCNN(width=4, layers=1))
        a, b = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
        fused, feats = model.forward_with_features(a, b)
        batch = {"a": a, "b": b, "task": ["ivif"], "rec_a": model.reconstruct(a), "rec_b": model.reconstruct(b),
                 **feats}
        total, parts = objective(fused, batch)
        assert torch.isfinite(total) and parts
    elif group == "optim":
        opt = instantiate(cfg.optim.optimizer)([torch.nn.Parameter(torch.zeros(1))])
        assert isinstance(opt, torch.optim.Optimizer)
    elif group in ("logger", "callbacks"):
        from fusionlab.engine.run import _instantiate_group

        _instantiate_group(node)
    elif group == "trainer":
        assert node._target_.endswith("Trainer")
    elif group == "eval":
        assert list(cfg.eval.suite) and cfg.eval.convention in ("cddfuse", "tang")
    elif group == "paths":
        assert Path(cfg.paths.output_dir) == tmp_path / "run"


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment, compose):
    cfg = compose(f"+experiment={experiment}")
    assert cfg.task_name and cfg.eval.suite


def test_ivif_zero_shot_trains_on_ivif_and_tests_every_task(compose):
    from fusionlab.data.sources import get_source

    cfg = compose("+experiment=ivif_zero_shot")
    assert {get_source(e.source).task for e in cfg.data.train} == {"ivif"}
    assert {get_source(k).task for k in cfg.eval.suite} == {"ivif", "mif", "mef", "mff"}
    assert cfg.data.mode == "auto"


def test_unknown_override_key_is_rejected(compose):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="trainer.max_epoch"):
        compose("trainer.max_epoch=3")

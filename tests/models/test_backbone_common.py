"""Every pluggable backbone through the same contract: built from its YAML and through the full train config
(``model/backbone=NAME``), odd sizes round-trip inside FusionNet, two optimiser steps train every trainable
parameter and no frozen one, unknown names and too-small images give readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fusionlab.models import FusionNet
from fusionlab.models.backbones import BACKBONES, Backbone, build_backbone

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY_VIT = {"embed_dim": 32, "depth": 4, "num_heads": 2}

# option name -> (YAML option, tiny overrides) keeping each case to a fraction of a second
CASES: dict[str, tuple[str, dict]] = {
    "ssm": ("ssm", {"width": 4, "d_state": 2}),
    "transformer": ("transformer", {"width": 4}),
    "transformer-window": (
        "transformer",
        {"width": 4, "attention": "window", "window_size": 4, "depths": [2, 1, 2]},
    ),
    "dinov3": ("dinov3", {"width": 4, "vit_kwargs": TINY_VIT, "indices": [0, 1, 2, 3]}),
    "dinov3-finetune": (
        "dinov3",
        {"width": 4, "vit_kwargs": TINY_VIT, "indices": [0, 1, 2, 3], "fine_tune_blocks": 1},
    ),
}


def _from_yaml(case: str) -> Backbone:
    option, tiny = CASES[case]
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "model" / "backbone" / f"{option}.yaml"), tiny)
    return instantiate(cfg)


def _override(key: str, value: object) -> str:
    if isinstance(value, dict):
        return f"model.backbone.{key}={{{','.join(f'{k}:{v}' for k, v in value.items())}}}"
    if isinstance(value, list):
        return f"model.backbone.{key}=[{','.join(map(str, value))}]"
    return f"model.backbone.{key}={value}"


@pytest.mark.parametrize("case", CASES)
def test_yaml_builds_the_registered_class(case):
    backbone = _from_yaml(case)
    assert type(backbone) is BACKBONES[CASES[case][0]]


@pytest.mark.parametrize("case", ["ssm", "transformer", "dinov3"])
def test_train_config_composes_model_backbone_name(case, compose):
    """The CLI path: ``python -m fusionlab.train model/backbone=NAME`` (tiny widths for speed)."""
    option, tiny = CASES[case]
    cfg = compose(f"model/backbone={option}", *(_override(k, v) for k, v in tiny.items()))
    model = instantiate(cfg.model)
    assert isinstance(model, FusionNet) and type(model.backbone) is BACKBONES[option]
    a = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert model(a, a).shape == a.shape


def test_unknown_backbone_lists_available_names(compose):
    with pytest.raises(ValueError, match="available: cnn, dinov3, ssm, transformer"):
        build_backbone("mamba")
    with pytest.raises(Exception, match="(?s)model/backbone.*ssm"):  # Hydra lists the group's options
        compose("model/backbone=mamba")


@pytest.mark.parametrize("case", CASES)
def test_output_shape_equals_input_shape_at_odd_sizes(case):
    net = FusionNet(_from_yaml(case)).eval()
    a, b = torch.rand(2, 1, 37, 53), torch.rand(2, 1, 37, 53)
    with torch.no_grad():
        out = net(a, b)
    assert out.shape == a.shape and torch.isfinite(out).all()
    feats = net.backbone(torch.rand(1, 1, 48, 64))
    assert [f.shape[1] for f in feats] == net.backbone.out_channels
    assert [48 // f.shape[-2] for f in feats] == net.backbone.reductions


@pytest.mark.parametrize("case", CASES)
def test_two_steps_train_every_trainable_parameter_and_no_frozen_one(case):
    net = FusionNet(_from_yaml(case)).train()
    trainable = {n: p for n, p in net.named_parameters() if p.requires_grad}
    frozen = {n: p for n, p in net.named_parameters() if not p.requires_grad}
    assert case.startswith("dinov3") == bool(frozen)  # only the ViT is frozen, and by default
    opt = torch.optim.Adam(trainable.values(), lr=1e-3)
    a, b = torch.rand(2, 1, 32, 48), torch.rand(2, 1, 32, 48)
    for _ in range(2):
        opt.zero_grad()
        loss = (net(a, b) - torch.maximum(a, b)).abs().mean()
        loss.backward()
        assert torch.isfinite(loss)
        no_grad = [n for n, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not no_grad, f"trainable parameters without gradient: {no_grad}"
        assert all(p.grad is None for p in frozen.values())
        opt.step()
    if case == "dinov3-finetune":
        tuned = [n for n in trainable if n.startswith("backbone.vit.")]
        assert tuned and all(n.startswith(("backbone.vit.blocks.3.", "backbone.vit.norm.")) for n in tuned)


@pytest.mark.parametrize("case", CASES)
def test_too_small_image_names_the_minimum(case):
    backbone = _from_yaml(case)
    m = backbone.min_size
    with pytest.raises(ValueError, match=f"minimum size {m}x{m}"):
        backbone(torch.rand(1, 1, m - 1, 40))

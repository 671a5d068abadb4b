"""Training strategies of the one FusionModule: joint, bilevel (phi/theta) with EMA, GIFNet alternating."""

from __future__ import annotations

import pytest
import torch

from fusionlab.engine.run import build_datamodule, build_module, build_trainer, run_training

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "callbacks=none", "eval.metrics=[EN,SD]",
        "eval.save_fused=false", "model.backbone.width=8")


def _fit(compose, tmp_path, *overrides):
    cfg = compose(*FAST, *overrides, output_dir=tmp_path / "run")
    module, dm, trainer = build_module(cfg), build_datamodule(cfg), build_trainer(cfg)
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    trainer.fit(module, datamodule=dm)
    return module, trainer, before


def test_bilevel_updates_phi_on_reconstruction_and_theta_on_fusion(compose, tmp_path):
    module, trainer, before = _fit(compose, tmp_path, "optim=bilevel", "loss=pixel_rec", "optim.inner_steps=2",
                                   "trainer.max_steps=6")
    theta = {id(p) for p in module.model.fusion_parameters()}
    changed = {n: not torch.equal(before[n], p) for n, p in module.model.named_parameters()}
    assert all(changed[n] for n, p in module.model.named_parameters() if id(p) in theta)
    assert all(changed[n] for n, p in module.model.named_parameters() if id(p) not in theta)
    opt_theta, opt_phi = trainer.optimizers
    assert {id(p) for g in opt_theta.param_groups for p in g["params"]} == theta
    assert not theta & {id(p) for g in opt_phi.param_groups for p in g["params"]}
    # 6 optimiser steps = 2 batches x (2 phi + 1 theta)
    assert trainer.global_step == 6
    logged = trainer.logged_metrics
    assert {"train/loss/reconstruction", "train/loss/lower", "train/loss/upper", "train/loss/ssim"} <= set(logged)
    # the EMA of theta differs from theta after training and is what evaluation sees
    shadow = module.ema.shadow()
    live = dict(module.model.named_parameters())
    assert any(not torch.equal(shadow[n], live[n]) for n in shadow)
    with module.ema.applied():
        assert all(torch.equal(shadow[n], live[n]) for n in shadow)
    assert any(not torch.equal(shadow[n], live[n]) for n in shadow)


def test_bilevel_without_reconstruction_term_is_a_clear_error(compose, tmp_path):
    with pytest.raises(ValueError, match="needs both a reconstruction term"):
        _fit(compose, tmp_path, "optim=bilevel", "trainer.max_steps=2")


def test_alternating_steps_once_per_task(compose, tmp_path):
    module, trainer, _ = _fit(compose, tmp_path, "optim=alternating", "data=ivif_mff", "data.mode=synthetic",
                              "data.batch_size=8", "data.samples_per_epoch=16", "trainer.max_steps=100")
    assert trainer.global_step > 2  # 2 batches; a batch with both tasks takes two optimiser steps
    logged = set(trainer.logged_metrics)
    assert "train/loss/task/ivif" in logged or "train/loss/task/mff" in logged


def test_bilevel_run_end_to_end_with_ema_checkpoint(compose, tmp_path):
    overrides = [o for o in FAST if o != "callbacks=none"]
    out = run_training(compose(*overrides, "optim=bilevel", "loss=pixel_rec", "trainer.max_steps=4",
                               output_dir=tmp_path / "r"))
    ckpt = torch.load(out["ckpt_path"], map_location="cpu", weights_only=True)
    assert any(k.startswith("ema.") for k in ckpt["state_dict"])
    assert len(ckpt["optimizer_states"]) == 2


def test_each_bilevel_update_changes_only_its_own_parameters(compose, tmp_path):
    cfg = compose(*FAST, "optim=bilevel", "loss=pixel_rec", "optim.ema_decay=null", "trainer.max_steps=4",
                  output_dir=tmp_path / "run")
    module, dm, trainer = build_module(cfg), build_datamodule(cfg), build_trainer(cfg)
    names = {id(p): n for n, p in module.model.named_parameters()}
    theta = {names[id(p)] for p in module.model.fusion_parameters()}
    changed_per_step: list[tuple[str, set[str]]] = []
    original = module.manual_step

    def recording_step(opt, loss):
        before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
        original(opt, loss)
        which = "theta" if getattr(opt, "optimizer", opt) is trainer.optimizers[0] else "phi"
        changed_per_step.append((which, {n for n, p in module.model.named_parameters() if not torch.equal(before[n], p)}))

    module.manual_step = recording_step
    trainer.fit(module, datamodule=dm)
    assert [w for w, _ in changed_per_step] == ["phi", "theta", "phi", "theta"]
    for which, changed in changed_per_step:
        assert changed, which
        assert changed <= theta if which == "theta" else not changed & theta


def test_reconstruction_term_with_a_model_that_cannot_reconstruct(compose):
    from hydra.utils import instantiate

    from fusionlab.baselines import build_baseline
    from fusionlab.engine.module import FusionModule

    cfg = compose(*FAST, "loss=pixel_rec")
    with pytest.raises(ValueError, match=r"loss term\(s\) reconstruction need reconstructions, but Average"):
        FusionModule(build_baseline("average"), instantiate(cfg.loss, _convert_="all"))

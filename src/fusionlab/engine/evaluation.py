"""Evaluate checkpoints and classical baselines over a suite: one table for all methods.

A checkpoint is rebuilt from the config of the run that wrote it (``<run>/.hydra/config.yaml`` beside
``<run>/checkpoints/``), so ``ckpt_path=`` alone is enough; weights load with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fusionlab.engine.run import (
    build_datamodule,
    build_module,
    build_trainer,
    finish_loggers,
    log_config,
    read_checkpoint,
    report,
)

log = logging.getLogger(__name__)


def run_config_of(ckpt_path: Path) -> DictConfig | None:
    """The composed config saved by Hydra for the run that produced ``ckpt_path`` (None if absent)."""
    for parent in ckpt_path.resolve().parents[:3]:
        candidate = parent / ".hydra" / "config.yaml"
        if candidate.is_file():
            return OmegaConf.load(candidate)
    return None


def load_checkpoint_model(ckpt_path: str | Path, model_cfg: DictConfig) -> torch.nn.Module:
    """Instantiate ``model_cfg`` and load the checkpoint's weights; mismatches name the keys."""
    path = Path(ckpt_path)
    state = read_checkpoint(path)["state_dict"]
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")} or state
    # A run trained with an EMA of the fusion parameters is evaluated with the averaged weights.
    weights.update({k.removeprefix("ema.").replace("__", "."): v for k, v in state.items() if k.startswith("ema.")})
    model = instantiate(model_cfg)
    result = model.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"checkpoint {path} does not match the model config (_target_ {model_cfg.get('_target_')}, backbone "
            f"{model_cfg.get('backbone', {}).get('_target_')}): missing {list(result.missing_keys)[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]}"
        )
    return model


def _methods(cfg: DictConfig) -> list[tuple[str, torch.nn.Module]]:
    from fusionlab.baselines import build_baseline

    methods: list[tuple[str, torch.nn.Module]] = []
    if cfg.get("ckpt_path"):
        ckpt = Path(cfg.ckpt_path)
        run_cfg = run_config_of(ckpt) if ckpt.is_file() else None
        model_cfg = run_cfg.model if run_cfg is not None and "model" in run_cfg else cfg.model
        name = cfg.get("method_name") or (run_cfg.get("method_name") if run_cfg is not None else None) or ckpt.stem
        methods.append((str(name), load_checkpoint_model(ckpt, model_cfg)))
    for name in cfg.get("methods") or []:
        methods.append((str(name), build_baseline(str(name))))
    if not methods:
        raise ValueError("nothing to evaluate: set ckpt_path=PATH and/or methods=[average,max,laplacian,wavelet,gff]")
    return methods


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate every method on ``cfg.eval.suite`` and report them in one table."""
    L.seed_everything(int(cfg.seed), workers=True)
    start = time.perf_counter()
    methods = _methods(cfg)
    datamodule = build_datamodule(cfg)
    trainer = build_trainer(cfg)
    rows: list[dict] = []
    panels: dict[str, list[torch.Tensor]] = {}
    several = len(methods) > 1
    result: dict[str, Any] = {"datamodule": datamodule, "trainer": trainer}
    try:
        for i, (name, model) in enumerate(methods):
            cfg_m = cfg.copy()
            cfg_m.method_name = name
            module = build_module(cfg_m, model=model, with_objective=False)
            if several:  # fused images of each method in methods/<name>/fused/<dataset>/
                module.output_dir = Path(cfg.paths.output_dir) / "methods" / name
            if i == 0:
                log_config(trainer, cfg, module)
            trainer.test(module, datamodule=datamodule, verbose=False)
            rows.extend(module.test_rows)
            for dataset, tiles in module.panels.items():
                panels.setdefault(f"{dataset}/{name}" if several else dataset, []).extend(tiles)
            log.info("%s: %d images evaluated", name, len(module.test_rows))
        if trainer.is_global_zero:
            notes = [f"Data mode: {datamodule.mode} (data_dir: {datamodule.data_dir}).",
                     "Methods: " + ", ".join(n for n, _ in methods) + "."]
            result.update(report(trainer, rows, panels, cfg, notes))
    finally:
        if trainer.is_global_zero:
            finish_loggers(trainer)
    log.info("evaluation finished in %.1f s", time.perf_counter() - start)
    return result

"""Evaluate checkpoints and classical baselines over a suite: one table for all methods.

A checkpoint is rebuilt from the config of the run that wrote it (``<run>/.hydra/config.yaml`` beside
``<run>/checkpoints/``), so ``ckpt_path=`` alone is enough; weights load with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import re
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


def run_method_name(run_cfg: DictConfig | None, ckpt: Path) -> str:
    """The run's ``method_name`` (e.g. ``fusionnet-transformer``), else the checkpoint's file stem.

    A Hydra-saved config keeps ``${hydra:runtime.choices...}`` unresolved; resolving it here would read
    *this* process's Hydra choices (the fuse config's default backbone), so it is resolved from the run's
    own ``.hydra/hydra.yaml`` instead.
    """
    if run_cfg is None:
        return ckpt.stem
    raw = OmegaConf.to_container(run_cfg, resolve=False).get("method_name")
    if not isinstance(raw, str) or not raw:
        return ckpt.stem
    if "${hydra:" in raw:
        choices: dict[str, Any] = {}
        for parent in ckpt.resolve().parents[:3]:
            if (parent / ".hydra" / "hydra.yaml").is_file():
                hydra_cfg = OmegaConf.load(parent / ".hydra" / "hydra.yaml")
                choices = dict(OmegaConf.select(hydra_cfg, "hydra.runtime.choices", default={}) or {})
                break
        missing: list[str] = []

        def choice(m: re.Match[str]) -> str:
            key = m.group(1)
            if key not in choices:
                missing.append(key)
            return str(choices.get(key, ""))

        name = re.sub(r"\$\{hydra:runtime\.choices\.([^}]+)\}", choice, raw)
        return ckpt.stem if missing or "${" in name else name
    if "${" in raw:
        try:
            return str(run_cfg.method_name)
        except Exception:  # noqa: BLE001 - an interpolation that only resolved inside that run
            return ckpt.stem
    return raw


def load_checkpoint_model(ckpt_path: str | Path, model_cfg: DictConfig) -> torch.nn.Module:
    """Instantiate ``model_cfg`` and load the checkpoint's weights; mismatches name the keys."""
    path = Path(ckpt_path)
    state = read_checkpoint(path)["state_dict"]
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")} or state
    # A run trained with an EMA of the fusion parameters is evaluated with the averaged weights.
    weights.update({k.removeprefix("ema.").replace("__", "."): v for k, v in state.items() if k.startswith("ema.")})
    model = instantiate(model_cfg)
    try:
        result = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # tensors of other shapes (e.g. another width)
        lines = [ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln]
        raise ValueError(f"checkpoint {path} does not match the model config (_target_ {model_cfg.get('_target_')}, "
                         f"backbone {model_cfg.get('backbone', {}).get('_target_')}): {len(lines)} tensor(s) differ "
                         "in shape, e.g. " + "; ".join(lines[:2])) from err
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
        name = cfg.get("method_name") or run_method_name(run_cfg, ckpt)
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
            module = build_module(cfg, model=model, with_objective=False)
            module.method_name = name
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

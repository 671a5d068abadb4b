"""Build a run from a composed config and execute it: fit, select a checkpoint on validation, evaluate the suite.

The entry points (``python -m fusionlab.train`` / ``evaluate``) are thin wrappers around these functions, which
take a plain, resolved ``DictConfig`` so tests and notebooks can call them without the CLI.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fusionlab.data.datamodule import FusionDataModule
from fusionlab.engine.callbacks import ProcessGroupCleanup
from fusionlab.engine.checkpoints import read_checkpoint
from fusionlab.engine.evaluation import EvaluationModule
from fusionlab.engine.module import FusionModule, count_parameters
from fusionlab.engine.report import ResultsWriter, finish_loggers, read_rows, refuse_existing_results
from fusionlab.engine.selection import (
    check_selection_key,
    objective_value,
    select_checkpoint,
    validate_initial,
)
from fusionlab.errors import ConfigError

log = logging.getLogger(__name__)


def _instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every non-null entry of a dict-of-configs group (loggers, callbacks)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None and "_target_" in node]


def build_datamodule(cfg: DictConfig) -> FusionDataModule:
    return instantiate(cfg.data, _convert_="all")


def build_module(cfg: DictConfig, model: torch.nn.Module | None = None) -> FusionModule:
    """The training LightningModule for ``cfg`` (a given ``model`` replaces ``cfg.model``)."""
    model = model if model is not None else instantiate(cfg.model)
    optim = cfg.get("optim") or {}

    def factory(key: str) -> Any:
        return instantiate(optim[key]) if optim.get(key) else None

    return FusionModule(
        model=model,
        objective=instantiate(cfg.loss, _convert_="all") if cfg.get("loss") else None,
        optimizer=factory("optimizer"),
        scheduler=OmegaConf.to_container(optim["scheduler"]) if optim.get("scheduler") else None,
        mode=optim.get("mode", "joint"),
        inner_steps=int(optim.get("inner_steps", 1)),
        reconstruction_optimizer=factory("reconstruction_optimizer"),
        ema_decay=optim.get("ema_decay"),
        gradient_clip_val=optim.get("gradient_clip_val"),
        val_metrics=list(cfg.eval.val_metrics),
        convention=cfg.eval.convention,
        tile_size=cfg.eval.get("tile_size"),
        tile_overlap=int(cfg.eval.get("tile_overlap", 64)),
        model_config=OmegaConf.to_container(cfg.model, resolve=True),
        method_name=method_name_of(cfg, model),
    )


def method_name_of(cfg: DictConfig, model: torch.nn.Module) -> str:
    return str(cfg.get("method_name") or type(model).__name__)


def build_trainer(cfg: DictConfig) -> L.Trainer:
    if cfg.trainer.get("gradient_clip_val") is not None:
        raise ConfigError("trainer.gradient_clip_val is not used: set optim.gradient_clip_val (one key for every "
                          "training mode)")
    loggers = _instantiate_group(cfg.get("logger"))
    callbacks = [*_instantiate_group(cfg.get("callbacks")), ProcessGroupCleanup()]
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)


def build_methods(names: list[str]) -> dict[str, torch.nn.Module]:
    """Classical reference methods by name (``methods``): evaluation-only, they inherit nothing from training."""
    from fusionlab.baselines import BASELINES, build_baseline

    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"methods: unknown classical method(s) {unknown}; available: {', '.join(BASELINES)}")
    return {str(n): build_baseline(str(n)) for n in names}


def build_evaluation(cfg: DictConfig, methods: Mapping[str, torch.nn.Module], save_fused: list[str],
                     notes: list[str], title: str) -> EvaluationModule:
    """The one evaluation module of ``train``, ``evaluate`` and ``ablate``, with its rank-zero writer."""
    ev = cfg.eval
    writer = ResultsWriter(str(cfg.paths.output_dir), str(ev.convention), title, notes)
    task_metrics = OmegaConf.to_container(ev.task_metrics) if ev.get("task_metrics") else None
    return EvaluationModule(
        methods, convention=ev.convention, metrics=list(ev.metrics) if ev.get("metrics") else None,
        task_metrics=task_metrics, tile_size=ev.get("tile_size"), tile_overlap=int(ev.get("tile_overlap", 64)),
        save_fused=save_fused if ev.save_fused else [], output_dir=cfg.paths.output_dir,
        panels_per_dataset=int(ev.panels_per_dataset), writer=writer, overlap=bool(ev.get("overlap", False)))


def log_config(trainer: L.Trainer, cfg: DictConfig, model: torch.nn.Module, extra: dict | None = None) -> None:
    """Send the resolved config (parameter counts, selection) to every logger, so W&B shows the whole run."""
    params = OmegaConf.to_container(cfg, resolve=True)
    params["model/params_total"], params["model/params_trainable"] = count_parameters(model)
    params.update(extra or {})
    for lg in trainer.loggers:
        lg.log_hyperparams(params)


def _check_selection(cfg: DictConfig) -> None:
    allow = bool(cfg.get("allow_test_selection", False))
    check_selection_key(cfg.get("optimized_metric"), "optimized_metric", allow)
    ckpt_cb = (cfg.get("callbacks") or {}).get("model_checkpoint") or {}
    check_selection_key(ckpt_cb.get("monitor"), "callbacks.model_checkpoint.monitor", allow)


def run_training(cfg: DictConfig) -> dict[str, Any]:
    """Fit (``cfg.train``), select a checkpoint on validation, then evaluate the suite (``cfg.test``)."""
    L.seed_everything(int(cfg.seed), workers=True)
    start = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    refuse_existing_results(out_dir)
    _check_selection(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path == "last":
        ckpt_path = str(out_dir / "checkpoints" / "last.ckpt")
    if ckpt_path:
        read_checkpoint(ckpt_path)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg)
    references = build_methods(list(cfg.get("methods") or []))
    trainer = build_trainer(cfg)
    notes = [f"Data mode: {datamodule.mode} (data_dir: {datamodule.data_dir})."]
    if cfg.get("allow_test_selection"):
        notes.append("**Warning: allow_test_selection=true: model selection may have read the test suite.**")
    total, trainable = count_parameters(module.model)
    log.info("data mode: %s; training sources: %s; model %s: %.3f M parameters (%.3f M trainable)", datamodule.mode,
             ", ".join(datamodule.train_keys), module.method_name, total / 1e6, trainable / 1e6)
    result: dict[str, Any] = {"datamodule": datamodule, "module": module, "trainer": trainer}
    try:
        log_config(trainer, cfg, module.model)
        if cfg.get("train", True):
            if not ckpt_path:  # a resumed run's callback state already holds the initial score
                validate_initial(trainer, module, datamodule, out_dir)
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
            _save_final_checkpoint(trainer, out_dir)
        name = cfg.get("optimized_metric")
        if name and not str(name).startswith("test/"):
            result["objective"] = objective_value(str(name), trainer)  # before the test phase clears metrics
        selection = select_checkpoint(trainer, out_dir) if cfg.get("train", True) else None
        result["ckpt_path"] = selection.path if selection else ckpt_path
        if cfg.get("test", True):
            model = _evaluation_model(module, selection.path if selection else ckpt_path, cfg)
            if selection is not None:
                notes.append(selection.note())
                for lg in trainer.loggers:
                    lg.log_hyperparams({"selection/checkpoint": selection.path, "selection/criterion":
                                        selection.criterion, "selection/score": selection.score})
            if references:
                notes.append(f"Reference rows: classical {', '.join(references)}.")
            evaluation = build_evaluation(cfg, {module.method_name: model, **references}, [module.method_name],
                                          notes, f"fusionlab: {cfg.task_name}")
            # trainer.global_step reads the progress of the module's own optimisation mode: keep the trained one's
            evaluation.automatic_optimization = module.automatic_optimization
            trainer.test(evaluation, datamodule=datamodule, verbose=False)
            result.update(rows=read_rows(out_dir), results_csv=out_dir / "results.csv",
                          results_md=out_dir / "results.md")
        if name and str(name).startswith("test/"):
            own = [r for r in result.get("rows") or [] if r["method"] == module.method_name]
            result["objective"] = objective_from_rows(str(name), own)
    finally:
        if trainer.is_global_zero:
            finish_loggers(trainer)
    log.info("finished in %.1f s", time.perf_counter() - start)
    return result


def _evaluation_model(module: FusionModule, ckpt_path: str | None, cfg: DictConfig) -> torch.nn.Module:
    """The selected checkpoint's evaluation weights (EMA folded in), else the in-memory model's."""
    if ckpt_path:
        from fusionlab.engine.checkpoints import load_evaluation_model

        return load_evaluation_model(ckpt_path, cfg.model).model
    return module.evaluation_model()


def objective_from_rows(name: str, rows: list[dict]) -> float:
    """``test/<dataset>/<metric>`` or ``test/mean/<metric>`` from the result rows (only with
    ``allow_test_selection=true``)."""
    parts = name.split("/", 2)
    if len(parts) != 3:
        raise ConfigError(f"optimized_metric {name!r}: use test/<dataset>/<metric> or test/mean/<metric>")
    _, dataset, metric = parts
    values = [float(r[metric]) for r in rows if metric in r and (dataset == "mean" or r["dataset"] == dataset)]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        raise ConfigError(f"optimized_metric {name!r}: no finite test values (is {metric} in the metric set?)")
    return sum(values) / len(values)


def _save_final_checkpoint(trainer: L.Trainer, out_dir: Path) -> None:
    """Make sure ``checkpoints/last.ckpt`` holds the final weights (a fit that stops at ``max_steps``
    mid-epoch triggers no checkpoint callback)."""
    if trainer.checkpoint_callback is None or trainer.state.status.value != "finished":
        return
    last = out_dir / "checkpoints" / "last.ckpt"
    if last.is_file() and read_checkpoint(last).get("global_step", -1) == trainer.global_step:
        return
    trainer.save_checkpoint(last)

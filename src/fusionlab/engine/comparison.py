"""``python -m fusionlab.evaluate``: checkpoints and classical rules over a suite, in one table.

A checkpoint rebuilds its own model from the config stored in it (or its run's ``.hydra/config.yaml``), with
its evaluation weights, so ``ckpt_path=`` alone is enough; the rest is the one evaluation path.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig

from fusionlab.engine.checkpoints import load_evaluation_model
from fusionlab.engine.report import finish_loggers, read_rows, refuse_existing_results
from fusionlab.engine.run import build_datamodule, build_evaluation, build_methods, build_trainer, log_config
from fusionlab.errors import ConfigError
from fusionlab.pretrained import resolve_checkpoint

log = logging.getLogger(__name__)


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``ckpt_path`` (if any) and ``methods`` on ``cfg.eval.suite``; write one table."""
    L.seed_everything(int(cfg.seed), workers=True)
    start = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    refuse_existing_results(out_dir)
    methods = {}
    ckpt_path = resolve_checkpoint(cfg)
    if ckpt_path:
        loaded = load_evaluation_model(ckpt_path)
        methods[str(cfg.get("method_name") or loaded.name)] = loaded.model
    references = build_methods(list(cfg.get("methods") or []))
    clash = set(methods) & set(references)
    if clash:
        raise ConfigError(f"method_name {sorted(clash)} is also a classical method: set another method_name")
    methods.update(references)
    if not methods:
        raise ConfigError("nothing to evaluate: set ckpt_path=PATH (or pretrained=NAME) and/or "
                          "methods=[average,max,laplacian,wavelet,gff]")
    datamodule = build_datamodule(cfg)
    trainer = build_trainer(cfg)
    notes = [f"Data mode: {datamodule.mode} (data_dir: {datamodule.data_dir}).",
             "Methods: " + ", ".join(methods) + "."]
    if cfg.get("pretrained"):
        notes.append(f"Pretrained weights evaluated: {cfg.pretrained} (shipped with fusionlab).")
    elif ckpt_path:
        notes.append(f"Checkpoint evaluated: {ckpt_path}.")
    save = list(methods) if len(methods) > 1 else list(methods)[:1]
    evaluation = build_evaluation(cfg, methods, save, notes, f"fusionlab: {cfg.task_name}")
    try:
        log_config(trainer, cfg, next(iter(methods.values())))
        trainer.test(evaluation, datamodule=datamodule, verbose=False)
    finally:
        if trainer.is_global_zero:
            finish_loggers(trainer)
    log.info("evaluation finished in %.1f s", time.perf_counter() - start)
    return {"datamodule": datamodule, "trainer": trainer, "rows": read_rows(out_dir),
            "results_csv": out_dir / "results.csv", "results_md": out_dir / "results.md"}

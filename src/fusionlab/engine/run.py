"""Build a run from a composed config and execute it: fit, then evaluate the suite and report.

The entry points (``python -m fusionlab.train`` / ``evaluate``) are thin wrappers around these
functions, which take a plain ``DictConfig`` so tests and notebooks can call them without the CLI.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fusionlab.baselines import build_baseline
from fusionlab.data.datamodule import FusionDataModule
from fusionlab.engine.module import FusionModule, count_parameters
from fusionlab.engine.results import console_table, write_grids, write_results

log = logging.getLogger(__name__)

# The columns printed at the end of a run (results.md has every metric).
CONSOLE_METRICS = ("EN", "SD", "SF", "AG", "MI", "VIF", "Qabf", "SSIM", "PSNR_gt", "SSIM_gt")


def _instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every non-null entry of a dict-of-configs group (loggers, callbacks)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None and "_target_" in node]


def build_datamodule(cfg: DictConfig) -> FusionDataModule:
    return instantiate(cfg.data, _convert_="all")


def build_module(cfg: DictConfig, model: torch.nn.Module | None = None, with_objective: bool = True) -> FusionModule:
    """The LightningModule for ``cfg`` (a given ``model`` replaces ``cfg.model``, e.g. a classical baseline)."""
    model = model if model is not None else instantiate(cfg.model)
    objective = instantiate(cfg.loss, _convert_="all") if with_objective and cfg.get("loss") else None
    optim = cfg.get("optim") or {}
    return FusionModule(
        model=model,
        objective=objective,
        optimizer=instantiate(optim["optimizer"]) if optim.get("optimizer") else None,
        scheduler=OmegaConf.to_container(optim["scheduler"]) if optim.get("scheduler") else None,
        mode=optim.get("mode", "joint"),
        reconstruction_optimizer=instantiate(optim["reconstruction_optimizer"]) if optim.get("reconstruction_optimizer") else None,
        inner_steps=int(optim.get("inner_steps", 1)),
        ema_decay=optim.get("ema_decay"),
        gradient_clip_val=optim.get("gradient_clip_val"),
        val_metrics=list(cfg.eval.val_metrics),
        test_metrics=list(cfg.eval.metrics) if cfg.eval.get("metrics") else None,
        convention=cfg.eval.convention,
        method_name=str(cfg.get("method_name") or type(model).__name__),
        output_dir=cfg.paths.output_dir,
        save_fused=bool(cfg.eval.save_fused),
        panels_per_dataset=int(cfg.eval.panels_per_dataset),
        tile_size=cfg.eval.get("tile_size"),
        tile_overlap=int(cfg.eval.get("tile_overlap", 64)),
    )


def build_trainer(cfg: DictConfig) -> L.Trainer:
    loggers = _instantiate_group(cfg.get("logger"))
    callbacks = _instantiate_group(cfg.get("callbacks"))
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)


def log_config(trainer: L.Trainer, cfg: DictConfig, module: FusionModule) -> None:
    """Send the resolved config (and parameter counts) to every logger, so W&B shows the whole run."""
    params = OmegaConf.to_container(cfg, resolve=True)
    total, trainable = count_parameters(module.model)
    params["model/params_total"] = total
    params["model/params_trainable"] = trainable
    for lg in trainer.loggers:
        lg.log_hyperparams(params)


def report(trainer: L.Trainer, rows: list[dict], panels: dict[str, list[torch.Tensor]], cfg: DictConfig,
           notes: list[str]) -> dict[str, Any]:
    """Write results.csv / results.md / grids, log the table and panels to W&B, print a summary."""
    out = Path(cfg.paths.output_dir)
    csv_path, md_path = write_results(rows, out, cfg.eval.convention, title=f"fusionlab: {cfg.task_name}", notes=notes)
    grids = write_grids(panels, out)
    _log_to_wandb(trainer, rows, panels)
    from rich.console import Console

    shown = [m for m in CONSOLE_METRICS if any(m in r for r in rows)]
    Console(width=160).print(console_table(rows, shown, title=f"{cfg.task_name}: mean per dataset "
                                           f"({cfg.eval.convention} convention; all metrics in {md_path.name})"))
    log.info("results: %s, %s; fused images under %s", csv_path, md_path, out / "fused")
    return {"rows": rows, "results_csv": csv_path, "results_md": md_path, "grids": grids}


class ResultsReporter:
    """Picklable hook that collects a run's result rows from inside the (rank-zero) test process.

    Several test passes (classical reference rows first, the trained model last) add to one staging
    file, which also works when each pass runs in fresh worker processes (``ddp_spawn``). Only the
    ``final`` pass writes ``results.csv``/``results.md``, so an interrupted run never leaves a table
    that looks complete.
    """

    def __init__(self, cfg: DictConfig, notes: list[str], final: bool = True) -> None:
        self.cfg, self.notes, self.final = cfg, notes, final
        self.outputs: dict[str, Any] = {}

    @property
    def staging(self) -> Path:
        return Path(self.cfg.paths.output_dir) / ".results_partial.json"

    def __call__(self, trainer: L.Trainer, rows: list[dict], panels: dict[str, list[torch.Tensor]]) -> None:
        earlier = json.loads(self.staging.read_text()) if self.staging.is_file() else []
        all_rows = earlier + list(rows)
        if not self.final:
            self.staging.parent.mkdir(parents=True, exist_ok=True)
            self.staging.write_text(json.dumps(all_rows))
            return
        self.outputs = report(trainer, all_rows, panels, self.cfg, self.notes)
        self.staging.unlink(missing_ok=True)


def _log_to_wandb(trainer: L.Trainer, rows: list[dict], panels: dict[str, list[torch.Tensor]]) -> None:
    from lightning.pytorch.loggers import WandbLogger

    for lg in trainer.loggers:
        if not isinstance(lg, WandbLogger):
            continue
        columns = list(dict.fromkeys(k for r in rows for k in r))
        lg.log_table(key="results", columns=columns, data=[[r.get(c) for c in columns] for r in rows])
        for dataset, tiles in panels.items():
            if tiles:
                lg.log_image(key=f"panels/{dataset}", images=[t.permute(1, 2, 0).numpy() for t in tiles],
                             caption=["a | b | fused"] * len(tiles))


def finish_loggers(trainer: L.Trainer) -> None:
    """Flush and close W&B so the offline run folder is complete when the process ends."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in trainer.loggers:
        lg.finalize("success")
        if isinstance(lg, WandbLogger):
            lg.experiment.finish()


def run_training(cfg: DictConfig) -> dict[str, Any]:
    """Fit (``cfg.train``) then evaluate the suite (``cfg.test``) on the best or last checkpoint."""
    L.seed_everything(int(cfg.seed), workers=True)
    start = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    if (out_dir / "results.csv").exists():
        raise FileExistsError(
            f"run directory {out_dir} already holds results.csv: start a new run (a new hydra.run.dir) "
            "or remove the folder; fusionlab does not overwrite finished results"
        )
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path == "last":
        ckpt_path = str(out_dir / "checkpoints" / "last.ckpt")
    if ckpt_path:
        read_checkpoint(ckpt_path)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg)
    trainer = build_trainer(cfg)
    log_config(trainer, cfg, module)
    notes = [f"Data mode: {datamodule.mode} (data_dir: {datamodule.data_dir})."]
    log.info("data mode: %s; training sources: %s", datamodule.mode, ", ".join(datamodule.train_keys))
    result: dict[str, Any] = {"datamodule": datamodule, "module": module, "trainer": trainer}
    try:
        if cfg.get("train", True):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
            _save_final_checkpoint(trainer, out_dir)
            ckpt_path = _best_or_last(trainer, out_dir)
        if cfg.get("test", True):
            baselines = list(cfg.eval.get("baselines") or [])
            notes.append(f"Checkpoint: {ckpt_path or '(weights in memory)'}."
                         + (f" Reference rows: classical {', '.join(baselines)}." if baselines else ""))
            for name in baselines:  # classical reference rows (zero parameters, same suite and metrics)
                ref = build_module(cfg, model=build_baseline(name), with_objective=False)
                ref.method_name, ref.save_fused, ref.panels_per_dataset = name, False, 0
                ref.reporter = ResultsReporter(cfg, notes, final=False)
                trainer.test(ref, datamodule=datamodule, verbose=False)
            module.reporter = reporter = ResultsReporter(cfg, notes)
            trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True, verbose=False)
            result.update(reporter.outputs)  # "rows": every row of the table (reference rows and the model's)
        result["ckpt_path"] = ckpt_path
        if cfg.get("optimized_metric"):
            own = [r for r in result.get("rows") or [] if r["method"] == module.method_name]  # not the reference rows
            result["objective"] = optimized_value(str(cfg.optimized_metric), trainer, own)
    finally:
        if trainer.is_global_zero:
            finish_loggers(trainer)
    log.info("finished in %.1f s", time.perf_counter() - start)
    return result


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only``); missing, truncated or foreign files fail naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (ckpt_path; `last` means <run dir>/checkpoints/last.ckpt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # mmap: no full read
    except Exception as err:  # noqa: BLE001 - truncated zip, foreign pickle, ...
        reason = "unpickling failed" if "Unpickl" in type(err).__name__ else str(err).strip().splitlines()[0][:160]
        raise ValueError(f"cannot read checkpoint {path} ({reason}): the file is truncated or not a fusionlab "
                         "checkpoint; use an earlier checkpoint") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return ckpt


def optimized_value(name: str, trainer: L.Trainer, rows: list[dict]) -> float:
    """The number a sweeper optimises: a logged metric (``val/loss``) or a test mean from the results rows,
    ``test/<dataset>/<metric>`` or ``test/mean/<metric>`` (mean over all test images)."""
    if name.startswith("test/"):
        _, dataset, metric = name.split("/", 2) if name.count("/") >= 2 else (None, None, None)
        if metric is None:
            raise ValueError(f"optimized_metric {name!r}: use test/<dataset>/<metric> or test/mean/<metric>")
        values = [float(r[metric]) for r in rows if metric in r and (dataset == "mean" or r["dataset"] == dataset)]
        values = [v for v in values if math.isfinite(v)]
        if not values:
            raise ValueError(f"optimized_metric {name!r}: no finite test values (is {metric} in eval.metrics?)")
        return sum(values) / len(values)
    if name not in trainer.callback_metrics:
        raise ValueError(f"optimized_metric {name!r} was not logged; available: {sorted(trainer.callback_metrics)}")
    return float(trainer.callback_metrics[name])


def _save_final_checkpoint(trainer: L.Trainer, out_dir: Path) -> None:
    """Make sure ``checkpoints/last.ckpt`` holds the final weights (a fit that stops at ``max_steps``
    mid-epoch triggers no checkpoint callback)."""
    if trainer.checkpoint_callback is None or trainer.state.status.value != "finished":
        return
    last = out_dir / "checkpoints" / "last.ckpt"
    if last.is_file() and read_checkpoint(last).get("global_step", -1) == trainer.global_step:
        return
    trainer.save_checkpoint(last)


def _best_or_last(trainer: L.Trainer, out_dir: Path) -> str | None:
    """The best checkpoint on the monitored metric, else ``checkpoints/last.ckpt``, else None."""
    for cb in trainer.checkpoint_callbacks:
        best = getattr(cb, "best_model_path", "")
        if best and Path(best).is_file():
            return best
    last = out_dir / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None

"""The rank-zero writer every evaluation ends in: results.csv/md, grids, the W&B table and panels, the console.

It holds plain values only (no config, no trainer), so it travels into ``ddp_spawn`` workers, and it refuses
to overwrite a finished ``results.csv``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from fusionlab.engine.results import console_table, write_grids, write_results
from fusionlab.engine.validation import HEADLINE_METRICS
from fusionlab.errors import ResultsExistError

log = logging.getLogger(__name__)

# The columns printed at the end of a run (results.md has every metric).
# Every headline metric (the ones win counts are taken on), then the task-specific ones a reader looks for first.
CONSOLE_METRICS = (*HEADLINE_METRICS, "MEF_SSIM", "Qy", "PSNR_gt", "SSIM_gt")


def refuse_existing_results(out_dir: str | Path) -> None:
    """Fail before any work when ``out_dir`` already holds a finished table."""
    csv_path = Path(out_dir) / "results.csv"
    if csv_path.exists():
        raise ResultsExistError(f"run directory {csv_path.parent} already holds results.csv: start a new run (a new "
                                "hydra.run.dir) or remove the folder; fusionlab does not overwrite finished results")


@dataclass
class ResultsWriter:
    """Writes one evaluation's outputs under ``output_dir``; ``notes`` go into results.md."""

    output_dir: str
    convention: str
    title: str
    notes: list[str] = field(default_factory=list)
    console_metrics: Sequence[str] = CONSOLE_METRICS

    def __call__(self, trainer: L.Trainer | None, rows: list[dict], panels: dict[str, list[torch.Tensor]]) -> None:
        out = Path(self.output_dir)
        refuse_existing_results(out)
        csv_path, md_path = write_results(rows, out, self.convention, title=self.title, notes=self.notes)
        write_grids(panels, out)
        if trainer is not None:
            log_to_wandb(trainer, rows, panels)
        from rich.console import Console

        shown = [m for m in self.console_metrics if any(m in r for r in rows)]
        Console(width=160).print(console_table(rows, shown, title=f"{self.title}: mean per dataset "
                                               f"({self.convention} convention; all metrics in {md_path.name})"))
        log.info("results: %s, %s; fused images under %s", csv_path, md_path, out / "fused")


def log_to_wandb(trainer: L.Trainer, rows: list[dict], panels: dict[str, list[torch.Tensor]]) -> None:
    from lightning.pytorch.loggers import WandbLogger

    for lg in trainer.loggers:
        if not isinstance(lg, WandbLogger):
            continue
        columns = list(dict.fromkeys(k for r in rows for k in r))
        lg.log_table(key="results", columns=columns, data=[[r.get(c) for c in columns] for r in rows])
        for dataset, tiles in panels.items():
            if tiles:
                lg.log_image(key=f"panels/{dataset}", images=[t.permute(1, 2, 0).numpy() for t in _same_size(tiles)],
                             caption=["a | b | fused"] * len(tiles))


def _same_size(tiles: list[torch.Tensor]) -> list[torch.Tensor]:
    """Panels resized to the first one's size: W&B shows one image strip per key and warns on mixed sizes."""
    size = tuple(tiles[0].shape[-2:])
    return [t if tuple(t.shape[-2:]) == size else
            torch.nn.functional.interpolate(t[None], size=size, mode="bilinear", align_corners=False)[0]
            for t in tiles]


def read_rows(out_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a written ``results.csv`` (numbers as floats): what the parent process returns."""
    import csv

    path = Path(out_dir) / "results.csv"
    if not path.is_file():
        return []
    rows = []
    with path.open() as fh:
        for r in csv.DictReader(fh):
            rows.append({k: (v if k in ("method", "dataset", "task", "image") else float(v) if v != "" else
                             float("nan")) for k, v in r.items()})
    return rows


def finish_loggers(trainer: L.Trainer) -> None:
    """Flush and close W&B so the offline run folder is complete when the process ends."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in trainer.loggers:
        lg.finalize("success")
        if isinstance(lg, WandbLogger):
            lg.experiment.finish()

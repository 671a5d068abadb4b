"""Loggers as fusionlab configures them."""

from __future__ import annotations

import csv
from typing import Any

from lightning.pytorch.loggers import CSVLogger as _LightningCSVLogger
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class WandbLogger(_LightningWandbLogger):
    """Lightning's W&B logger without its deprecated ``anonymous`` init key (wandb warns about it on every run)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wandb_init.pop("anonymous", None)


class _AppendingWriter(ExperimentWriter):
    """Keeps ``metrics.csv`` across trainer calls and processes: fit then test in a ``ddp_spawn`` worker, or a
    resumed run. Lightning's writer deletes an existing file and cannot rewrite one with keys it never saw."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as fh:
                self.metrics_keys = list(csv.DictReader(fh).fieldnames or [])

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with self._fs.open(self.metrics_file_path, "r", newline="") as fh:
            reader = csv.DictReader(fh)
            rows, old = list(reader), list(reader.fieldnames or [])
        self.metrics_keys = sorted(set(fieldnames) | set(old))
        with self._fs.open(self.metrics_file_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.metrics_keys, restval="")
            writer.writeheader()
            writer.writerows(rows)


class CSVLogger(_LightningCSVLogger):
    """Lightning's CSV logger, appending to the run's ``metrics.csv`` instead of replacing it."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

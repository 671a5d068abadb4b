"""Small callbacks that make the default config robust to user choices (e.g. ``logger=none``)."""

from __future__ import annotations

import atexit

import lightning as L
import torch.distributed as dist
from lightning.pytorch.callbacks import Callback, LearningRateMonitor

_CLEANUP_REGISTERED = False


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class ProcessGroupCleanup(Callback):
    """Destroy the process group at interpreter exit, for every backend (Lightning does it for NCCL only).

    A ``ddp_spawn`` worker on gloo that exits with its process group alive sometimes aborts with SIGABRT
    ("terminate called without an active exception"): the group's C++ threads are torn down with the
    interpreter instead of being joined. Registered from ``setup``, which runs in every worker process.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        global _CLEANUP_REGISTERED
        if not _CLEANUP_REGISTERED and dist.is_available() and dist.is_initialized():
            atexit.register(_destroy_process_group)
            _CLEANUP_REGISTERED = True


class LearningRateMonitorIfLogged(LearningRateMonitor):
    """Lightning's LR monitor raises without a logger; with ``logger=none`` this one just stays silent."""

    def on_train_start(self, trainer: L.Trainer, *args, **kwargs) -> None:
        if not trainer.loggers:
            self.logging_interval = None  # type: ignore[assignment]
            self._disabled = True
            return
        self._disabled = False
        super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: L.Trainer, *args, **kwargs) -> None:
        if not getattr(self, "_disabled", False):
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: L.Trainer, *args, **kwargs) -> None:
        if not getattr(self, "_disabled", False):
            super().on_train_epoch_start(trainer, *args, **kwargs)

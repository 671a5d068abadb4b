"""Small callbacks that make the default config robust to user choices (e.g. ``logger=none``)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor


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

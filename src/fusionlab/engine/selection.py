"""Which checkpoint is evaluated, and what sweeps optimise: validation criteria only (DESIGN §2).

Selecting on the test suite tunes the reported numbers on the very images they are reported on, and for a
zero-shot claim that means nothing. So a checkpoint monitor or ``optimized_metric`` that names a ``test/`` key
is refused unless ``allow_test_selection=true`` (then the run's results.md says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from fusionlab.errors import ConfigError

log = logging.getLogger(__name__)


def check_selection_key(key: str | None, what: str, allow_test: bool = False) -> None:
    """Refuse selection on the test suite (with the reason), and keys that are not validation keys."""
    if not key:
        return
    if key.startswith("test/") and not allow_test:
        raise ConfigError(f"{what}={key} selects on the test suite: the reported numbers would be tuned on the "
                          "images they are reported on (a zero-shot claim made this way means nothing); use a "
                          "validation key such as val/quality or val/mean/Qabf, or set allow_test_selection=true "
                          "if you know what you are doing (results.md will say so)")
    if not key.startswith(("val/", "test/", "train/")):
        raise ConfigError(f"{what}={key}: expected a logged key such as val/quality, val/mean/<metric>, "
                          "val/<dataset>/<metric> or val/loss")


class QualityCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that waits quietly while its monitor is not yet logged (short runs, mid-epoch stops).

    Lightning warns each time the monitored key is missing; before the first validation that is expected.
    ``include_initial``: the weights training starts from are a candidate too (:func:`validate_initial` scores
    them before the first step). A model that starts from strong priors or pretrained weights can come out of
    training worse on validation than it went in; selection then keeps what it started from instead of the least
    bad epoch.
    """

    def __init__(self, *args: Any, include_initial: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(include_initial, bool):
            raise ConfigError(f"callbacks.model_checkpoint.include_initial must be true or false, got "
                              f"{include_initial!r}")
        self.include_initial = include_initial

    def register_initial(self, path: str, score: float) -> None:
        """Enter the initial weights (saved at ``path``, scoring ``score``) as the best so far: an epoch replaces
        them only if it validates better, and then their file is removed like any checkpoint that drops out."""
        if self.save_top_k == 0:
            return
        value = torch.tensor(float(score))
        self.best_k_models = {path: value}
        self.kth_best_model_path, self.kth_value = path, value
        self.best_model_path, self.best_model_score = path, value

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)


@dataclass(frozen=True)
class Selection:
    """The checkpoint evaluated and why: recorded in results.md and the W&B config."""

    path: str | None
    criterion: str
    score: float | None = None

    def note(self) -> str:
        value = f" = {self.score:.4f}" if self.score is not None else ""
        return f"Checkpoint evaluated: {self.path or '(weights in memory)'}, selected by {self.criterion}{value}."


INITIAL_CHECKPOINT = "initial.ckpt"


def validate_initial(trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
                     out_dir: Path) -> None:
    """Score the weights training starts from on validation and enter them as a candidate of every
    ``QualityCheckpoint`` with ``include_initial`` (saved as ``checkpoints/initial.ckpt``). The validation pass runs
    under a forked RNG, so training draws what it would draw without it."""
    callbacks = [cb for cb in trainer.checkpoint_callbacks
                 if isinstance(cb, QualityCheckpoint) and cb.include_initial and cb.monitor]
    if not callbacks:
        return
    with torch.random.fork_rng(devices=[]):
        trainer.validate(module, datamodule=datamodule, verbose=False)
    path = out_dir / "checkpoints" / INITIAL_CHECKPOINT
    saved = False  # one decision on every rank: save_checkpoint is collective
    for cb in callbacks:
        score = trainer.callback_metrics.get(cb.monitor)
        if score is None:
            log.warning("include_initial: %s was not logged by the initial validation; the initial weights are not a "
                        "candidate", cb.monitor)
            continue
        if not saved:
            trainer.save_checkpoint(path)  # overwrites a stale file of an earlier run in the same folder
            saved = True
        cb.register_initial(str(path.absolute()), float(score))
        log.info("initial weights: %s = %.4f (a candidate for selection: %s)", cb.monitor, float(score), path)


def select_checkpoint(trainer: L.Trainer, out_dir: Path) -> Selection:
    """The best checkpoint on its monitor (a validation criterion), else ``checkpoints/last.ckpt``."""
    for cb in trainer.checkpoint_callbacks:
        best = getattr(cb, "best_model_path", "")
        if cb.monitor and best and Path(best).is_file():
            score = cb.best_model_score
            return Selection(best, f"best {cb.monitor} ({cb.mode})", float(score) if score is not None else None)
    last = out_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return Selection(str(last), "last (no validation score was logged: the run ended before validation)")
    return Selection(None, "last weights in memory (checkpointing is off)")


def objective_value(name: str, trainer: L.Trainer) -> float:
    """What a sweeper optimises: the monitored key's best value, else the last logged value of ``name``."""
    for cb in trainer.checkpoint_callbacks:
        if cb.monitor == name and cb.best_model_score is not None:
            return float(cb.best_model_score)
    if name not in trainer.callback_metrics:
        logged = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
        raise ConfigError(f"optimized_metric {name!r} was not logged during validation; available: {logged}")
    return float(trainer.callback_metrics[name])

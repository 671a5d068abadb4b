"""FusionModule: the LightningModule that trains a fusion model; a thin coordinator (DESIGN §2).

It owns the model, the objective and the optimiser factories, and delegates the training step to a strategy
(``engine/strategies``). Validation scores the headline metrics on the training task's validation split
(``engine/validation``), which is what selects checkpoints. The test suite is run by
:class:`~fusionlab.engine.evaluation.EvaluationModule`, never by this module.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from fusionlab.engine.ema import ParameterEMA
from fusionlab.engine.evaluation import fuse_images, score
from fusionlab.engine.schedules import SCHEDULERS, build_scheduler
from fusionlab.engine.strategies import TrainingStrategy, build_strategy
from fusionlab.engine.validation import HEADLINE_METRICS, ValidationScores
from fusionlab.errors import ConfigError, NonFiniteLossError
from fusionlab.losses import Objective

log = logging.getLogger(__name__)


class FusionModule(L.LightningModule):
    """Trains ``model`` on ``objective`` with the strategy of ``mode`` (joint, bilevel, alternating)."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: dict[str, Any] | None = None,
        mode: str | TrainingStrategy = "joint",
        inner_steps: int = 1,
        reconstruction_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        ema_decay: float | None = None,
        gradient_clip_val: float | None = None,
        val_metrics: Sequence[str] = HEADLINE_METRICS,
        convention: str = "cddfuse",
        tile_size: int | None = 1024,
        tile_overlap: int = 64,
        model_config: dict[str, Any] | None = None,
        method_name: str = "fusionlab",
    ) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.optimizer_factory = optimizer
        self.reconstruction_optimizer_factory = reconstruction_optimizer
        self.scheduler_cfg = dict(scheduler or {})
        name = self.scheduler_cfg.get("name", "cosine")
        if self.scheduler_cfg and name not in SCHEDULERS:
            raise ConfigError(f"optim.scheduler.name must be one of {', '.join(SCHEDULERS)}, got {name!r}")
        self.strategy = mode if isinstance(mode, TrainingStrategy) else build_strategy(mode, inner_steps)
        self.automatic_optimization = self.strategy.automatic_optimization
        self.gradient_clip_val = gradient_clip_val
        self.ema: ParameterEMA | None = None
        if ema_decay is not None:
            fusion = getattr(model, "fusion_parameters", None)
            if fusion is None:
                raise ConfigError(f"optim.ema_decay averages the fusion parameters, but {type(model).__name__} has "
                                  "no fusion_parameters(): use FusionNet or set optim.ema_decay=null")
            theta = {id(p) for p in fusion()}
            self.ema = ParameterEMA([(n, p) for n, p in model.named_parameters() if id(p) in theta], ema_decay)
        self._check_objective()
        if objective is not None:
            self.strategy.validate(self)
        self.tile_size, self.tile_overlap, self.convention = tile_size, tile_overlap, convention
        self.scores = ValidationScores(val_metrics, convention)
        # Stored in every checkpoint (timm's pretrained_cfg idea): the checkpoint alone rebuilds its model.
        self.model_config, self.method_name = model_config, method_name

    def _check_objective(self) -> None:
        obj, model = self.objective, self.model
        if obj is not None and obj.needs_reconstruction and not hasattr(model, "reconstruct"):
            terms = [k for k, t in obj.terms.items() if t.needs_reconstruction and t.weight > 0]
            raise ConfigError(f"loss term(s) {', '.join(terms)} need reconstructions, but {type(model).__name__} "
                              "has no reconstruct(x) (no reconstruction path): drop the term or use FusionNet")
        if obj is not None and obj.needs_features and not hasattr(model, "forward_with_features"):
            raise ConfigError(f"loss term(s) {', '.join(obj.feature_terms())} read the model's features, but "
                              f"{type(model).__name__} has no forward_with_features(a, b)")

    # -- model and optimisers ---------------------------------------------------------------------
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.model(a, b)

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ConfigError("optim.optimizer is not configured")
        groups = self.strategy.parameter_groups(self)
        factories = [self.optimizer_factory, self.reconstruction_optimizer_factory][: len(groups)]
        optimizers = [factory(params) for factory, params in zip(factories, groups)]
        if not self.scheduler_cfg or self.scheduler_cfg.get("name") == "none":
            return optimizers if len(optimizers) > 1 else optimizers[0]
        total = self._total_steps()
        configs = [{"optimizer": opt, "lr_scheduler": {"scheduler": build_scheduler(opt, total, self.scheduler_cfg),
                                                       "interval": "step"}} for opt in optimizers]
        return configs if len(configs) > 1 else configs[0]

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: Any = None,
                                    gradient_clip_algorithm: Any = None) -> None:
        """One key for every mode: ``optim.gradient_clip_val`` (clipping by norm)."""
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=float(self.gradient_clip_val),
                                gradient_clip_algorithm="norm")

    def _total_steps(self) -> int:
        """Optimiser steps of the whole fit, for the LR schedule.

        From the DataModule's epoch length rather than ``trainer.estimated_stepping_batches``: that property
        builds the train loader before a checkpoint is restored, and mid-epoch resume would replay batches.
        """
        trainer = self.trainer
        per_epoch = getattr(getattr(trainer, "datamodule", None), "batches_per_epoch", None)
        if per_epoch is None:
            return int(trainer.estimated_stepping_batches)
        batches = per_epoch(trainer.world_size)
        lim = trainer.limit_train_batches
        if lim is not None and lim != 1.0:
            batches = int(lim) if isinstance(lim, int) else int(batches * lim)
        steps_per_epoch = max(math.ceil(batches / trainer.accumulate_grad_batches), 1)
        epochs_total = steps_per_epoch * trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        candidates = [t for t in (epochs_total, trainer.max_steps if trainer.max_steps > 0 else None) if t]
        return min(candidates) if candidates else steps_per_epoch

    # -- what strategies call ---------------------------------------------------------------------
    def objective_loss(self, objective: Objective, batch: dict, fuse: bool = True) -> tuple[Tensor, dict]:
        """(total, parts) of ``objective``; ``fuse=False`` scores the reconstruction of ``a`` alone."""
        if fuse and objective.needs_features:
            fused, feats = self.model.forward_with_features(batch["a"], batch["b"])
            batch = {**batch, **feats}
        elif fuse:
            fused = self.model(batch["a"], batch["b"])
        else:
            fused = batch["a"]
        if objective.needs_reconstruction:
            batch = {**batch, "rec_a": self.model.reconstruct(batch["a"]), "rec_b": self.model.reconstruct(batch["b"])}
        if objective.needs_features and "features_a" not in batch:
            batch = {**batch, **self.model.forward_with_features(batch["a"], batch["b"])[1]}
        total, parts = objective(fused, batch)
        self._check_finite(total, parts)
        return total, parts

    def manual_step(self, opt: Any, loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self.configure_gradient_clipping(opt)
        opt.step()

    def step_schedulers(self) -> None:
        scheds = self.lr_schedulers()
        for sched in scheds if isinstance(scheds, list) else [scheds] if scheds is not None else []:
            sched.step()

    def log_losses(self, total: Tensor, parts: dict[str, Tensor], bs: int) -> None:
        self.log("train/loss", total, prog_bar=True, batch_size=bs)
        for name, value in parts.items():
            self.log(f"train/loss/{name}", value, batch_size=bs)

    def _check_finite(self, total: Tensor, parts: dict[str, Tensor]) -> None:
        if torch.isfinite(total):
            return
        bad = [n for n, v in parts.items() if not torch.isfinite(v)] or ["(total)"]
        raise NonFiniteLossError(
            f"non-finite loss at step {self.global_step}: term(s) {', '.join(bad)} = "
            + ", ".join(f"{n}={float(parts[n]) if n in parts else float(total)}" for n in bad)
            + "; the last good checkpoint is kept in checkpoints/ (lower optim.optimizer.lr or set "
            "optim.gradient_clip_val)"
        )

    # -- training ---------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        # Mid-epoch resume: the loader records how many batches of this epoch the loop has processed.
        loader = self.trainer.train_dataloader
        if hasattr(loader, "progress"):
            epoch_loop = self.trainer.fit_loop.epoch_loop
            loader.progress = lambda: epoch_loop.batch_progress.current.processed

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        if self.objective is None:
            raise ConfigError("training needs a loss: configure loss.terms")
        return self.strategy.step(self, batch)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update()

    # -- validation: the selection criterion ------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._ema_context = self.ema.applied() if self.ema is not None else nullcontext()
        self._ema_context.__enter__()  # validation scores the weights that will be evaluated (EMA if kept)
        self.scores.start(self.trainer.datamodule.val_names, self.device)

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        dataset = self.trainer.datamodule.val_names[dataloader_idx]
        fused = fuse_images(self.model, batch["a"], batch["b"], tile_size=self.tile_size,
                            tile_overlap=self.tile_overlap, task=batch["task"][0])
        loss = None
        if self.objective is not None:
            loss, _ = self.objective(fused, self._objective_batch(batch))
        scored = {k: batch[k] for k in ("a", "b", "target") if k in batch}  # target: PSNR_gt where there is one
        self.scores.update(dataset, fused, batch, score(fused, scored, self.scores.metric_names, self.convention), loss)

    def _objective_batch(self, batch: dict) -> dict:
        obj = self.objective
        if obj.needs_reconstruction:
            batch = {**batch, "rec_a": self.model.reconstruct(batch["a"]), "rec_b": self.model.reconstruct(batch["b"])}
        if obj.needs_features:
            batch = {**batch, **self.model.forward_with_features(batch["a"], batch["b"])[1]}
        return batch

    def on_validation_epoch_end(self) -> None:
        values = self.scores.compute(with_loss=self.objective is not None)
        for key, value in values.items():
            self.log(key, value, prog_bar=key in ("val/quality", "val/loss"))
        self._ema_context.__exit__(None, None, None)

    # -- checkpoints ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what rebuilds the model, and its evaluation weights with the EMA folded in."""
        info: dict[str, Any] = {"model": self.model_config, "method_name": self.method_name}
        if self.ema is not None:
            with self.ema.applied():
                info["eval_state_dict"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        checkpoint["fusionlab"] = info

    def evaluation_model(self) -> nn.Module:
        """A copy of the model with the weights evaluation uses (the EMA when one is kept)."""
        import copy

        context = self.ema.applied() if self.ema is not None else nullcontext()
        with context:
            return copy.deepcopy(self.model).eval()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable

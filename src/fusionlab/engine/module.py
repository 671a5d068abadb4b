"""FusionModule: the one LightningModule that trains and evaluates every fusion model.

Training modes are strategies of this module (DESIGN §2): ``joint`` takes one optimiser step on the
weighted objective. Validation and test run one dataloader per dataset of the suite; the test loop
also produces per-image result rows (method, dataset, task, image, metrics...) and fused images with
colour restored, which the entry points turn into ``results.csv``/``results.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from fusionlab.color import restore_color
from fusionlab.data.io import write_image
from fusionlab.engine.ema import ParameterEMA
from fusionlab.engine.schedules import warmup_cosine
from fusionlab.losses import Objective
from fusionlab.metrics import compute_metrics, compute_reference_metrics, to_metric_range
from fusionlab.models.tiling import tiled_fuse

log = logging.getLogger(__name__)

MODES = ("joint", "bilevel", "alternating")


class NonFiniteLossError(FloatingPointError):
    """Training produced NaN/Inf; the message names the loss term and the step."""


class FusionModule(L.LightningModule):
    """Wraps a fusion model (learned or classical) with its objective, optimiser and evaluation."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: dict[str, Any] | None = None,
        mode: str = "joint",
        val_metrics: Sequence[str] = ("EN", "SD", "SF", "AG", "SSIM"),
        test_metrics: Sequence[str] | None = None,
        convention: str = "cddfuse",
        method_name: str = "fusionlab",
        output_dir: str | Path | None = None,
        save_fused: bool = True,
        panels_per_dataset: int = 4,
        tile_size: int | None = 1024,
        tile_overlap: int = 64,
        reconstruction_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        inner_steps: int = 1,
        ema_decay: float | None = None,
        gradient_clip_val: float | None = None,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"optim.mode must be one of {MODES}, got {mode!r}")
        if inner_steps < 1:
            raise ValueError(f"optim.inner_steps must be >= 1, got {inner_steps}")
        # joint: Lightning's automatic optimisation. bilevel / alternating: several optimiser steps per
        # batch, so manual optimisation (clipping then happens here, with optim.gradient_clip_val).
        self.automatic_optimization = mode == "joint"
        self.model = model
        self.reconstruction_optimizer_factory = reconstruction_optimizer
        self.inner_steps = int(inner_steps)
        self.gradient_clip_val = gradient_clip_val
        self.ema: ParameterEMA | None = None
        if ema_decay is not None:
            fusion = getattr(model, "fusion_parameters", None)
            if fusion is None:
                raise ValueError("optim.ema_decay needs a model with fusion_parameters() (e.g. FusionNet)")
            theta = {id(p) for p in fusion()}
            self.ema = ParameterEMA([(n, p) for n, p in model.named_parameters() if id(p) in theta], ema_decay)
        if objective is not None and objective.needs_reconstruction and not hasattr(model, "reconstruct"):
            terms = [k for k, t in objective.terms.items() if t.needs_reconstruction and t.weight > 0]
            raise ValueError(f"loss term(s) {', '.join(terms)} need reconstructions, but {type(model).__name__} has "
                             "no reconstruct(x) (no reconstruction path): drop the term or use FusionNet")
        if objective is not None and objective.needs_features and not hasattr(model, "forward_with_features"):
            raise ValueError(f"loss term(s) {', '.join(objective.feature_terms())} read the model's features, but "
                             f"{type(model).__name__} has no forward_with_features(a, b)")
        self.objective = objective
        self.optimizer_factory = optimizer
        self.scheduler_cfg = dict(scheduler or {})
        self.mode = mode
        self.val_metrics = list(val_metrics)
        self.test_metrics = list(test_metrics) if test_metrics is not None else None
        self.convention = convention
        self.method_name = method_name
        self.output_dir = Path(output_dir) if output_dir else None
        self.save_fused = save_fused
        self.panels_per_dataset = panels_per_dataset
        if tile_size is not None and (tile_size <= 0 or tile_overlap < 0):
            raise ValueError(f"eval.tile_size must be > 0 (or null) and eval.tile_overlap >= 0, got {tile_size}, {tile_overlap}")
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self.test_rows: list[dict[str, Any]] = []
        self.panels: dict[str, list[Tensor]] = {}
        # Called on global rank zero with (trainer, rows, panels) once the test epoch is gathered; it runs
        # inside the worker process, so results are written under every strategy (ddp_spawn included).
        self.reporter: Callable[[Any, list[dict[str, Any]], dict[str, list[Tensor]]], Any] | None = None

    # -- model ------------------------------------------------------------------------------------
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.model(a, b)

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("optim.optimizer is not configured")
        if self.mode == "bilevel":
            theta, phi = self._bilevel_parameters()
            if self.reconstruction_optimizer_factory is None:
                raise ValueError("optim.mode=bilevel needs optim.reconstruction_optimizer (the phi optimiser)")
            optimizers = [self.optimizer_factory(theta), self.reconstruction_optimizer_factory(phi)]
        else:
            params = [p for p in self.model.parameters() if p.requires_grad]
            if not params:
                raise ValueError(f"{type(self.model).__name__} has no trainable parameters: nothing to train")
            optimizers = [self.optimizer_factory(params)]
        if not self.scheduler_cfg or self.scheduler_cfg.get("name", "cosine") in (None, "none"):
            return optimizers if len(optimizers) > 1 else optimizers[0]
        total = self._total_steps()
        configs = []
        for opt in optimizers:
            sched = warmup_cosine(opt, total, float(self.scheduler_cfg.get("warmup_fraction", 0.05)),
                                  float(self.scheduler_cfg.get("min_lr_ratio", 0.01)))
            configs.append({"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}})
        return configs if len(configs) > 1 else configs[0]

    def _bilevel_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(theta, phi): the model declares which parameters fuse and which reconstruct."""
        if not hasattr(self.model, "fusion_parameters") or not hasattr(self.model, "reconstruction_parameters"):
            raise ValueError(f"optim.mode=bilevel needs a model with fusion_parameters() and "
                             f"reconstruction_parameters(); {type(self.model).__name__} has neither")
        theta, phi = list(self.model.fusion_parameters()), list(self.model.reconstruction_parameters())
        if not theta or not phi:
            raise ValueError(f"bilevel training needs trainable fusion (theta: {len(theta)}) and reconstruction "
                             f"(phi: {len(phi)}) parameters")
        if self.objective is None or None in self.objective.split():
            raise ValueError("optim.mode=bilevel needs both a reconstruction term (e.g. loss.terms.reconstruction) "
                             "and at least one fusion term with weight > 0")
        return theta, phi

    def _total_steps(self) -> int:
        """Optimiser steps of the whole fit, for the LR schedule.

        Computed from the DataModule's epoch length rather than ``trainer.estimated_stepping_batches``:
        that property builds the train loader before a checkpoint is restored, after which Lightning
        never hands the loader its saved position, and mid-epoch resume would replay batches.
        """
        trainer = self.trainer
        dm = getattr(trainer, "datamodule", None)
        per_epoch = getattr(dm, "batches_per_epoch", None)
        if per_epoch is None:
            return int(trainer.estimated_stepping_batches)
        batches = per_epoch(trainer.world_size)
        if trainer.limit_train_batches is not None and trainer.limit_train_batches != 1.0:
            lim = trainer.limit_train_batches
            batches = int(lim) if isinstance(lim, int) else int(batches * lim)
        steps_per_epoch = max(math.ceil(batches / trainer.accumulate_grad_batches), 1)
        epochs_total = steps_per_epoch * trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        candidates = [t for t in (epochs_total, trainer.max_steps if trainer.max_steps > 0 else None) if t]
        return min(candidates) if candidates else steps_per_epoch

    # -- training ---------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        # Mid-epoch resume: the loader records how many batches of this epoch the loop has processed.
        loader = self.trainer.train_dataloader
        if hasattr(loader, "progress"):
            epoch_loop = self.trainer.fit_loop.epoch_loop
            loader.progress = lambda: epoch_loop.batch_progress.current.processed

    def _with_reconstruction(self, batch: dict, objective: Objective) -> dict:
        """The batch plus what the objective's terms read besides ``fused``: reconstructions and features."""
        if objective.needs_reconstruction:
            batch = {**batch, "rec_a": self.model.reconstruct(batch["a"]), "rec_b": self.model.reconstruct(batch["b"])}
        if objective.needs_features and "features_a" not in batch:
            batch = {**batch, **self.model.forward_with_features(batch["a"], batch["b"])[1]}
        return batch

    def _fuse(self, batch: dict, objective: Objective) -> tuple[Tensor, dict]:
        """Fused image and the batch for ``objective``; features come from the same forward pass."""
        if objective.needs_features:
            fused, feats = self.model.forward_with_features(batch["a"], batch["b"])
            batch = {**batch, **feats}
        else:
            fused = self.model(batch["a"], batch["b"])
        return fused, self._with_reconstruction(batch, objective)

    def _log_losses(self, total: Tensor, parts: dict[str, Tensor], bs: int, prefix: str = "train/loss") -> None:
        self.log(prefix, total, prog_bar=True, batch_size=bs)
        for name, value in parts.items():
            self.log(f"train/loss/{name}", value, batch_size=bs)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        if self.objective is None:
            raise ValueError("training needs a loss: configure loss.terms")
        if self.mode == "bilevel":
            return self._bilevel_step(batch)
        if self.mode == "alternating":
            return self._alternating_step(batch)
        fused, batch = self._fuse(batch, self.objective)
        total, parts = self.objective(fused, batch)
        self._check_finite(total, parts)
        self._log_losses(total, parts, fused.shape[0])
        return total

    def _manual_step(self, opt: Any, loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.gradient_clip_val:
            self.clip_gradients(opt, gradient_clip_val=float(self.gradient_clip_val), gradient_clip_algorithm="norm")
        opt.step()

    def _step_schedulers(self) -> None:
        scheds = self.lr_schedulers()
        for sched in scheds if isinstance(scheds, list) else [scheds] if scheds is not None else []:
            sched.step()

    def _bilevel_step(self, batch: dict) -> Tensor:
        """Lower level: ``inner_steps`` phi-updates on the reconstruction loss; upper level: one theta-update
        on the fusion loss through the updated phi (UniFusion's alternation, DESIGN §2)."""
        opt_theta, opt_phi = self.optimizers()
        rec_objective, fuse_objective = self.objective.split()
        bs = batch["a"].shape[0]
        for _ in range(self.inner_steps):
            rec_total, rec_parts = rec_objective(batch["a"], self._with_reconstruction(batch, rec_objective))
            self._check_finite(rec_total, rec_parts)
            self._manual_step(opt_phi, rec_total)
        fused, fuse_batch = self._fuse(batch, fuse_objective)
        fuse_total, fuse_parts = fuse_objective(fused, fuse_batch)
        self._check_finite(fuse_total, fuse_parts)
        self._manual_step(opt_theta, fuse_total)
        if self.ema is not None:
            self.ema.update()
        self._step_schedulers()
        self._log_losses(fuse_total + rec_total.detach(), {**rec_parts, **fuse_parts}, bs)
        self.log("train/loss/lower", rec_total, batch_size=bs)
        self.log("train/loss/upper", fuse_total, batch_size=bs)
        return fuse_total.detach()

    def _alternating_step(self, batch: dict) -> Tensor:
        """GIFNet-style multi-task learning: one optimiser step per task present in the batch."""
        opt = self.optimizers()
        tasks = list(batch["task"])
        totals = []
        for task in dict.fromkeys(tasks):
            idx = torch.tensor([i for i, t in enumerate(tasks) if t == task], device=batch["a"].device)
            sub = {k: (v.index_select(0, idx) if isinstance(v, Tensor) and v.shape[:1] == (len(tasks),)
                       else [v[i] for i in idx.tolist()] if isinstance(v, list) else v) for k, v in batch.items()}
            fused, sub = self._fuse(sub, self.objective)
            total, parts = self.objective(fused, sub)
            self._check_finite(total, parts)
            self._manual_step(opt, total)
            self.log(f"train/loss/task/{task}", total, batch_size=len(idx))
            totals.append(total.detach() * len(idx))
        if self.ema is not None:
            self.ema.update()
        self._step_schedulers()
        mean = torch.stack(totals).sum() / len(tasks)
        self.log("train/loss", mean, prog_bar=True, batch_size=len(tasks))
        return mean

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None and self.automatic_optimization:
            self.ema.update()

    # Evaluation uses the EMA weights when an EMA is kept (what UniFusion reports).
    def on_validation_epoch_start(self) -> None:
        self._val_loss_sum, self._val_loss_count = 0.0, 0
        self._ema_context = self.ema.applied() if self.ema is not None else None
        if self._ema_context is not None:
            self._ema_context.__enter__()

    def on_validation_epoch_end(self) -> None:
        # val/loss (the checkpoint monitor) = mean over every validation image of every dataset
        if getattr(self, "_val_loss_count", 0) and not self.trainer.testing:
            stats = torch.tensor([self._val_loss_sum, float(self._val_loss_count)], dtype=torch.float64,
                                 device=self.device)
            stats = self.trainer.strategy.reduce(stats, reduce_op="sum")
            self.log("val/loss", float(stats[0] / stats[1]), prog_bar=True)
        if getattr(self, "_ema_context", None) is not None:
            self._ema_context.__exit__(None, None, None)
            self._ema_context = None

    def _check_finite(self, total: Tensor, parts: dict[str, Tensor]) -> None:
        if torch.isfinite(total):
            return
        bad = [n for n, v in parts.items() if not torch.isfinite(v)] or ["(total)"]
        raise NonFiniteLossError(
            f"non-finite loss at step {self.global_step}: term(s) {', '.join(bad)} = "
            + ", ".join(f"{n}={float(parts[n]) if n in parts else float(total)}" for n in bad)
            + "; the last good checkpoint is kept in checkpoints/"
        )

    # -- evaluation -------------------------------------------------------------------------------
    def _names(self, stage: str) -> list[str]:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None:
            return []
        return dm.val_names if stage == "val" else dm.test_names

    def _dataset_of(self, stage: str, batch: dict, dataloader_idx: int) -> str:
        names = self._names(stage)
        if dataloader_idx < len(names):
            return names[dataloader_idx]
        return batch["dataset"][0]

    def _fuse_for_eval(self, batch: dict) -> Tensor:
        a, b = batch["a"], batch["b"]
        if self.tile_size is not None and max(a.shape[-2:]) > self.tile_size:
            multiple = int(getattr(self.model, "size_multiple", 1))
            fused = tiled_fuse(self.model, a, b, self.tile_size, self.tile_overlap, multiple)
        else:
            fused = self.model(a, b).float()
        if not torch.isfinite(fused).all():
            raise FloatingPointError(f"non-finite fused output for {batch['dataset'][0]}/{batch['name'][0]}")
        return fused.clamp(0, 1)

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        fused = self._fuse_for_eval(batch)
        dataset = self._dataset_of("val", batch, dataloader_idx)
        bs = fused.shape[0]
        if self.objective is not None:
            total, _ = self.objective(fused, self._with_reconstruction(batch, self.objective))
            self.log(f"val/{dataset}/loss", total, batch_size=bs, add_dataloader_idx=False, sync_dist=True)
            self._val_loss_sum += float(total) * bs
            self._val_loss_count += bs
        values = self._metrics(fused, batch, self.val_metrics)
        for name, v in values.items():
            finite = v[torch.isfinite(v)]
            if finite.numel():
                self.log(f"val/{dataset}/{name}", finite.mean(), batch_size=finite.numel(),
                         add_dataloader_idx=False, sync_dist=True)

    def _metrics(self, fused: Tensor, batch: dict, names: Sequence[str] | None) -> dict[str, Tensor]:
        f, a, b = (to_metric_range(t.float()) for t in (fused, batch["a"], batch["b"]))
        values = compute_metrics(f, a, b, names, convention=self.convention)
        if "target" in batch:
            values.update(compute_reference_metrics(f, to_metric_range(batch["target"].float())))
        return values

    def on_test_epoch_start(self) -> None:
        self.test_rows = []
        self.panels = {}
        self.on_validation_epoch_start()

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        fused = self._fuse_for_eval(batch)
        dataset = self._dataset_of("test", batch, dataloader_idx)
        values = self._metrics(fused, batch, self.test_metrics)
        for i in range(fused.shape[0]):
            row = {"method": self.method_name, "dataset": dataset, "task": batch["task"][i],
                   "image": batch["name"][i]}
            row.update({k: float(v[i]) for k, v in values.items()})
            self.test_rows.append(row)
            rgb = restore_color(fused[i], _get(batch, "cbcr_a", i), _get(batch, "cbcr_b", i))
            if self.save_fused and self.output_dir is not None:
                write_image(self.output_dir / "fused" / dataset / f"{batch['name'][i]}.png",
                            rgb.permute(1, 2, 0).cpu().numpy(), compress_level=1)
            panels = self.panels.setdefault(dataset, [])
            if len(panels) < self.panels_per_dataset:
                panels.append(self._panel(batch, i, rgb))

    @staticmethod
    def _panel(batch: dict, i: int, fused_rgb: Tensor) -> Tensor:
        """a | b | fused side by side, each in its own colours (for W&B and the image grid)."""
        a = restore_color(batch["a"][i].float(), _get(batch, "cbcr_a", i), None)
        b = restore_color(batch["b"][i].float(), None, _get(batch, "cbcr_b", i))
        tiles = [t.expand(3, -1, -1) if t.shape[0] == 1 else t for t in (a, b, fused_rgb)]
        sep = torch.ones(3, tiles[0].shape[1], 4, device=fused_rgb.device)
        return torch.cat([tiles[0], sep, tiles[1], sep, tiles[2]], dim=2).cpu()

    def on_test_epoch_end(self) -> None:
        self.on_validation_epoch_end()
        if self.trainer.world_size > 1:
            gathered: list[list[dict]] = [None] * self.trainer.world_size  # type: ignore[list-item]
            torch.distributed.all_gather_object(gathered, self.test_rows)
            self.test_rows = [r for rows in gathered for r in rows]
        order = {name: i for i, name in enumerate(self._names("test"))}
        self.test_rows.sort(key=lambda r: (r["method"], order.get(r["dataset"], len(order)), r["dataset"], r["image"]))
        # Means come from the gathered per-image rows (exact under DDP, each image once), logged by rank 0.
        if self.trainer.is_global_zero and self.trainer.loggers:
            from fusionlab.engine.results import summarise

            ds_rows, _ = summarise(self.test_rows) if self.test_rows else ([], [])
            metrics = {f"test/{r['dataset']}/{k}": v for r in ds_rows for k, v in r.items()
                       if k not in ("method", "dataset", "task", "n") and isinstance(v, float) and v == v}
            for lg in self.trainer.loggers:
                lg.log_metrics(metrics, step=self.global_step)
        if self.trainer.is_global_zero and self.reporter is not None:
            self.reporter(self.trainer, self.test_rows, self.panels)


def _get(batch: dict, key: str, i: int) -> Tensor | None:
    value = batch.get(key)
    return None if value is None else value[i].float()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


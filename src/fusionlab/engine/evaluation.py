"""The one evaluation path: tiled forward, metrics through torchmetrics states, rows, fused images and panels.

``train`` (its test phase), ``evaluate`` and ``ablate`` all run :class:`EvaluationModule` under
``trainer.test``; ``fuse`` and ``export`` reuse :func:`fuse_images` and :func:`panel`. The module works under
every strategy: per-image rows are gathered to rank zero, means come from metric states synced by torchmetrics,
and rank zero hands both to the writer inside the worker process (so ``ddp_spawn`` writes results too).
"""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from fusionlab.color import restore_color
from fusionlab.data.io import BackgroundWriter
from fusionlab.engine.distributed import peer_failure_grace
from fusionlab.errors import ConfigError
from fusionlab.metrics import (
    SourceCache,
    build_metric_collection,
    compute_metrics,
    compute_reference_metrics,
    metrics_for_task,
    to_metric_range,
)
from fusionlab.models.tiling import tiled_fuse

log = logging.getLogger(__name__)
KEY_COLUMNS = ("method", "dataset", "task", "image")


# -- shared pieces (also used by fuse and export) -------------------------------------------------
def fuse_images(model: Callable[..., Tensor], a: Tensor, b: Tensor, *, tile_size: int | None = 1024,
                tile_overlap: int = 64, task: str | None = None, multiple: int | None = None,
                cbcr_a: Tensor | None = None, cbcr_b: Tensor | None = None) -> Tensor:
    """Fuse ``(B, 1, H, W)`` luminance with ``model``; sides above ``tile_size`` go in overlapping tiles, with a
    margin of ``tile_overlap`` or the model's ``context_radius`` (the reach of its fixed filters), the larger.

    The one forward of evaluation, fuse and export. A model whose ``forward`` takes ``task`` is told the task; a
    rule that ``uses_chroma`` gets both sources' chroma when they have it.
    Returns float32 in [0, 1]; a non-finite output is a bug in the model and raises FloatingPointError.
    """
    fn = model
    forward = getattr(model, "forward", None)
    if task and forward is not None and "task" in inspect.signature(forward).parameters:
        fn = functools.partial(model, task=task)
    multiple = int(getattr(model, "size_multiple", 1)) if multiple is None else multiple
    if getattr(model, "uses_chroma", False) and cbcr_a is not None and cbcr_b is not None:
        fused = model(a, b, cbcr_a=cbcr_a, cbcr_b=cbcr_b)  # a classical colour rule (Mertens): whole image
    elif tile_size is not None and max(a.shape[-2:]) > tile_size:
        # a margin below the model's filter reach would change the output near tile seams
        reach = int(getattr(getattr(model, "func", model), "context_radius", 0))
        fused = tiled_fuse(fn, a, b, tile_size, max(tile_overlap, reach), multiple)
    else:
        fused = fn(a, b)
    fused = fused.float()
    if not torch.isfinite(fused).all():
        raise FloatingPointError(f"{type(model).__name__} produced non-finite fused values (NaN/Inf)")
    return fused.clamp(0.0, 1.0)


def panel(a: Tensor, b: Tensor, fused_rgb: Tensor, cbcr_a: Tensor | None = None,
          cbcr_b: Tensor | None = None) -> Tensor:
    """a | b | fused side by side (3xHxW), each in its own colours: the layout of grids, W&B and previews."""
    a_rgb = restore_color(a.float(), cbcr_a, None)
    b_rgb = restore_color(b.float(), None, cbcr_b)
    tiles = [t.expand(3, -1, -1) if t.shape[0] == 1 else t for t in (a_rgb, b_rgb, fused_rgb)]
    sep = torch.ones(3, tiles[0].shape[1], 4, device=fused_rgb.device)
    return torch.cat([tiles[0], sep, tiles[1], sep, tiles[2]], dim=2).cpu()


def metric_names_for(task: str, metrics: Sequence[str] | None, task_metrics: Mapping[str, Sequence[str]] | None
                     ) -> list[str]:
    """The metric set of ``task``: ``eval.metrics`` when set (every task), else ``eval.task_metrics[task]``, else
    the task's standard set (:data:`fusionlab.metrics.TASK_METRICS`)."""
    try:
        return metrics_for_task(task, task_metrics, metrics)
    except KeyError as err:
        raise ConfigError(str(err.args[0]) if err.args else str(err)) from err


def score(fused: Tensor, batch: dict, names: Sequence[str], convention: str,
          sources: SourceCache | None = None) -> dict[str, Tensor]:
    """Per-image metric values (float64) of a fused batch, plus PSNR_gt/SSIM_gt where a target exists.

    ``sources``: one :class:`SourceCache` per batch, shared by the methods scored on it (same values, less work).
    """
    f, a, b = (to_metric_range(t.float()) for t in (fused, batch["a"], batch["b"]))
    with warnings.catch_warnings():  # an undefined metric is NaN here and noted in results.md, not warned per image
        warnings.filterwarnings("ignore", message=r"metric \S+ is undefined", category=RuntimeWarning)
        values = compute_metrics(f, a, b, names, convention=convention, sources=sources) if names else {}
    if "target" in batch:
        values.update(compute_reference_metrics(f, to_metric_range(batch["target"].float())))
    return values


def primed(collection: Any, device: torch.device) -> Any:
    """A metric collection on ``device`` with one empty update: torchmetrics syncs only metrics that were updated,
    so a rank without images (fewer images than ranks) must still count as updated, or the others wait forever."""
    collection = collection.to(device)
    empty = torch.empty(0, dtype=torch.float64, device=device)
    for metric in collection.values(copy_state=False):
        metric.update(None, None, None, values=empty)
    return collection


def _item(batch: dict, key: str, i: int) -> Tensor | None:
    value = batch.get(key)
    return None if value is None else value[i].float()


def _slot(name: str) -> str:
    return name.replace(".", "_")


# -- the test-phase module ------------------------------------------------------------------------
class EvaluationModule(L.LightningModule):
    """Evaluate several fusion methods on a suite in one pass: each image is decoded once for all methods.

    ``methods`` maps table names to ready models (checkpoints with their evaluation weights, classical rules).
    A method with a ``tasks`` attribute is evaluated only on datasets of those tasks. ``writer`` is called on
    rank zero with ``(trainer, rows, panels)`` at the end of the test epoch. With ``overlap`` (``eval.overlap``), one
    worker thread scores (and saves) what the model just fused while the model fuses the next method or batch
    and the loader's workers decode the next images, so a multi-method table is bound by its slowest stage
    rather than by their sum; results are identical (the worker handles items in submission order).
    """

    def __init__(self, methods: Mapping[str, nn.Module], *, convention: str = "cddfuse",
                 metrics: Sequence[str] | None = None, task_metrics: Mapping[str, Sequence[str]] | None = None,
                 tile_size: int | None = 1024, tile_overlap: int = 64, save_fused: Sequence[str] = (),
                 output_dir: str | Path | None = None, panels_per_dataset: int = 4,
                 writer: Callable[..., Any] | None = None, overlap: bool = False) -> None:
        super().__init__()
        if not methods:
            raise ConfigError("nothing to evaluate: give a checkpoint and/or methods=[average,gff,...]")
        if tile_size is not None and (tile_size <= 0 or tile_overlap < 0):
            raise ConfigError(f"eval.tile_size must be > 0 (or null) and eval.tile_overlap >= 0, got {tile_size}, "
                              f"{tile_overlap}")
        # Under DDP a dataset with fewer images than ranks leaves some ranks without a batch: they still sync.
        self.allow_zero_length_dataloader_with_multiple_devices = True
        self.names = list(methods)
        self.models = nn.ModuleDict({_slot(n): m for n, m in methods.items()})
        self.models.eval().requires_grad_(False)
        self.convention, self.metrics, self.task_metrics = convention, metrics, dict(task_metrics or {})
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self.save_fused = [n for n in save_fused if n in methods]
        self.output_dir = Path(output_dir) if output_dir else None
        self.panels_per_dataset = panels_per_dataset
        self.writer = writer
        self.overlap = overlap
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()
        self._images = BackgroundWriter()  # fused images are encoded while the next ones are fused and scored
        self.rows: list[dict[str, Any]] = []
        self.panels: dict[str, list[Tensor]] = {}
        self.states: dict[tuple[str, str], Any] = {}

    def _applies(self, name: str, task: str) -> bool:
        tasks = getattr(self.models[_slot(name)], "tasks", None)
        return tasks is None or task in tasks

    def on_test_epoch_start(self) -> None:
        self.rows, self.panels = [], {}
        self._pending.clear()
        if self.overlap and self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="fusionlab-score")
        dm = self.trainer.datamodule
        # Every rank builds every (method, dataset) state, in the same order, so their sync never deadlocks.
        self.states = {}
        for dataset in dm.test_names:
            task = dm.task_of(dataset)
            names = metric_names_for(task, self.metrics, self.task_metrics)
            for method in self.names:
                if self._applies(method, task):
                    self.states[(method, dataset)] = primed(build_metric_collection(names, self.convention),
                                                            self.device)

    def _fused_path(self, method: str, dataset: str, name: str) -> Path:
        assert self.output_dir is not None
        base = self.output_dir if len(self.save_fused) == 1 else self.output_dir / "methods" / method
        return base / "fused" / dataset / f"{name}.png"

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        if "padding" in batch:  # a rank with no image of this dataset (see TestShard): nothing to score
            return
        dm = self.trainer.datamodule
        dataset = dm.test_names[dataloader_idx]
        task = batch["task"][0]
        names = metric_names_for(task, self.metrics, self.task_metrics)
        sources = SourceCache()  # the sources' intermediates, computed for the first method, reused by the rest
        for method in self.names:
            if not self._applies(method, task):
                continue
            fused = fuse_images(self.models[_slot(method)], batch["a"], batch["b"], tile_size=self.tile_size,
                                tile_overlap=self.tile_overlap, task=task, cbcr_a=batch.get("cbcr_a"),
                                cbcr_b=batch.get("cbcr_b"))
            if self._pool is None:
                self._score(method, dataset, names, batch, fused, sources)
            else:
                self._drain(keep=2)  # bounded: at most two fused batches wait for their scores
                self._pending.append(
                    self._pool.submit(self._score_in_worker, method, dataset, names, batch, fused, sources)
                )

    def _score(self, method: str, dataset: str, names: Sequence[str], batch: dict, fused: Tensor,
               sources: SourceCache | None = None) -> None:
        """Metrics, metric states, rows and kept images of one fused batch (in the scoring thread if overlapped)."""
        values = score(fused, batch, names, self.convention, sources)
        collection = self.states[(method, dataset)]
        for metric in collection.values(copy_state=False):
            metric.update(fused, batch["a"], batch["b"], values=values[metric.name])
        for i in range(fused.shape[0]):
            row = {"method": method, "dataset": dataset, "task": batch["task"][i], "image": batch["name"][i]}
            row.update({k: float(v[i]) for k, v in values.items()})
            self.rows.append(row)
            self._keep_images(method, dataset, batch, i, fused[i])

    def _score_in_worker(self, *args: Any) -> None:
        with torch.inference_mode():  # grad modes are per thread: the test loop's inference mode is not inherited
            self._score(*args)

    def _drain(self, keep: int = 0) -> None:
        """Wait until at most ``keep`` scorings are pending; a failed one raises here, in the main thread."""
        while len(self._pending) > keep:
            self._pending.popleft().result()

    def on_test_end(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._images.close()

    def _keep_images(self, method: str, dataset: str, batch: dict, i: int, fused: Tensor) -> None:
        keep_panel = self.panels_per_dataset > 0 and (method == self.names[0] or len(self.save_fused) > 1)
        if method not in self.save_fused and not keep_panel:
            return
        rgb = restore_color(fused, _item(batch, "cbcr_a", i), _item(batch, "cbcr_b", i))
        if method in self.save_fused and self.output_dir is not None:
            self._images.submit(self._fused_path(method, dataset, batch["name"][i]),
                                rgb.permute(1, 2, 0).cpu().numpy(), compress_level=1)
        key = dataset if len(self.save_fused) <= 1 else f"{dataset}/{method}"
        tiles = self.panels.setdefault(key, [])
        if keep_panel and len(tiles) < self.panels_per_dataset:
            tiles.append(panel(batch["a"][i], batch["b"][i], rgb, _item(batch, "cbcr_a", i), _item(batch, "cbcr_b", i)))

    def on_test_epoch_end(self) -> None:
        self._drain()
        self._images.drain()
        with peer_failure_grace("the test metrics' sync"):
            means = {key: {k: float(v) for k, v in coll.compute().items()} for key, coll in self.states.items()}
            for coll in self.states.values():
                coll.reset()
            if self.trainer.world_size > 1:
                gathered: list[list[dict]] = [None] * self.trainer.world_size  # type: ignore[list-item]
                torch.distributed.all_gather_object(gathered, self.rows)
                self.rows = [r for rows in gathered for r in rows]
        order = {name: i for i, name in enumerate(self.trainer.datamodule.test_names)}
        method_order = {name: i for i, name in enumerate(self.names)}
        self.rows.sort(key=lambda r: (method_order[r["method"]], order.get(r["dataset"], len(order)), r["image"]))
        if not self.trainer.is_global_zero:
            return
        logged = {f"test/{dataset}/{m}": v for (method, dataset), vals in means.items() if method == self.names[0]
                  for m, v in vals.items() if v == v}
        for lg in self.trainer.loggers:
            lg.log_metrics(logged, step=self.trainer.global_step)
        if self.writer is not None:
            self.writer(self.trainer, self.rows, self.panels)

"""Fuse image pairs from disk with a checkpoint or a classical method (the logic of ``python -m fusionlab.fuse``).

Each pair goes through the same path as evaluation: decoded into the batch contract by the dataset
code (luminance + chroma, gray stored as RGB counts as gray, 8/16-bit), fused on luminance (in tiles
above ``tile_size``, so memory stays bounded at any size), and coloured again by the one colour policy.
A pair that fails is skipped with its reason and the rest still run; the report lists what was skipped.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from fusionlab.color import restore_color
from fusionlab.data.io import write_image
from fusionlab.data.pairing import Pair, Problem
from fusionlab.engine.evaluation import fuse_images, panel
from fusionlab.inference.pairs import InputError, find_pairs
from fusionlab.inference.tasks import resolve_task

log = logging.getLogger(__name__)

FuseFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class FuseOptions:
    """How pairs are fused; defaults match ``conf/fuse.yaml``."""

    tile_size: int | None = 1024  # images with a side above this are fused in tiles; None = never
    tile_overlap: int = 64  # context margin per tile side (>= the receptive radius for identical output)
    preview: bool = False  # also write previews/<name>.png: a | b | fused
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    precision: str = "32"  # 32 | bf16 (autocast; faster on recent CPUs and GPUs, not bit-equal)
    progress: bool = True  # progress bar with pairs/s on stderr

    def __post_init__(self) -> None:
        if self.tile_size is not None and (self.tile_size <= 0 or self.tile_overlap < 0):
            raise ValueError(f"tile_size must be > 0 (or null) and tile_overlap >= 0, got {self.tile_size} "
                             f"and {self.tile_overlap}")
        if str(self.precision) not in ("32", "bf16"):
            raise ValueError(f"precision must be 32 or bf16, got {self.precision!r}")


@dataclass
class LoadedModel:
    """A fusion model ready for inference, its display name and, for checkpoints, its run config."""

    name: str
    model: nn.Module
    run_cfg: DictConfig | None = None
    model_cfg: DictConfig | None = None


@dataclass
class FuseReport:
    """What a fuse run did: fused names, skipped pairs with reasons, wall time and where time went."""

    out_dir: Path
    method: str
    task: str | None
    fused: list[str] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "model": 0.0, "encode": 0.0})

    @property
    def ok(self) -> bool:
        return not self.skipped

    @property
    def pairs_per_second(self) -> float:
        return len(self.fused) / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for the console, then one line per skipped pair."""
        task = f", task {self.task}" if self.task else ""
        head = (f"fused {len(self.fused)} pair(s), skipped {len(self.skipped)}, in {self.seconds:.1f} s "
                f"({self.pairs_per_second:.2f} pairs/s) with {self.method}{task} -> {self.out_dir}")
        return "\n".join([head, *(f"  skipped {p}" for p in self.skipped)])


# -- model ----------------------------------------------------------------------------------------
def load_model(ckpt_path: str | Path | None = None, method: str | None = None,
               fallback_model_cfg: DictConfig | None = None) -> LoadedModel:
    """A checkpoint (rebuilt from the config it carries, with its evaluation weights) or a classical baseline.

    ``fallback_model_cfg`` is used only for old checkpoints that carry no config and have no run folder.
    """
    from fusionlab.engine.checkpoints import load_evaluation_model
    from fusionlab.errors import CheckpointError

    if bool(ckpt_path) == bool(method):
        raise InputError("give exactly one of ckpt_path=PATH (a trained checkpoint), pretrained=NAME (shipped "
                         "weights: python -m fusionlab.pretrained list) or method=NAME (average, max, laplacian, "
                         "wavelet, gff)")
    if method:
        from fusionlab.baselines import BASELINES, build_baseline

        if str(method) not in BASELINES:
            raise InputError(f"unknown method {method!r}; available: {', '.join(BASELINES)}")
        loaded = LoadedModel(str(method), build_baseline(str(method)))
    else:
        try:
            ev = load_evaluation_model(Path(str(ckpt_path)), fallback_model_cfg)
        except CheckpointError as err:
            raise _with_hint(err, Path(str(ckpt_path))) from err
        loaded = LoadedModel(ev.name, ev.model, ev.run_config, ev.model_config)
    loaded.model.eval().requires_grad_(False)
    return loaded


def _with_hint(err: Exception, ckpt: Path) -> Exception:
    """Weights that do not fit their model config: say what most likely went wrong."""
    text = str(err)
    if "does not match" not in text:
        return InputError(text)
    from fusionlab.engine.checkpoints import run_config_of

    if run_config_of(ckpt) is not None:
        hint = "the run config beside it (.hydra/config.yaml) was edited or belongs to another run"
    else:
        hint = ("no model config was stored with the checkpoint, so the given one was used: pass the one it was "
                "trained with (model/backbone=..., model.backbone.width=...)")
    return InputError(f"{text}. Hint: {hint}")


def fuse_fn_for(model: nn.Module, task: str | None) -> FuseFn:
    """``model`` as ``fn(a, b)``; a model whose ``forward`` accepts ``task`` is told the task."""
    if task and "task" in inspect.signature(model.forward).parameters:
        return functools.partial(model, task=task)
    return model


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device} but CUDA is not available here; use device=cpu or device=auto")
    return dev


def fuse_luminance(fn: FuseFn, a: Tensor, b: Tensor, *, tile_size: int | None = 1024, tile_overlap: int = 64,
                   multiple: int = 1, precision: str = "32", cbcr_a: Tensor | None = None,
                   cbcr_b: Tensor | None = None) -> Tensor:
    """Fuse ``(B, 1, H, W)`` luminance through evaluation's forward (:func:`fuse_images`), optionally in bf16."""
    autocast = (torch.autocast(device_type=a.device.type, dtype=torch.bfloat16)
                if str(precision) == "bf16" else nullcontext())
    with torch.inference_mode(), autocast:
        return fuse_images(fn, a, b, tile_size=tile_size, tile_overlap=tile_overlap, multiple=multiple,
                           cbcr_a=cbcr_a, cbcr_b=cbcr_b)


# -- output ---------------------------------------------------------------------------------------
def prepare_output(out: str | Path) -> Path:
    """Create ``out`` and prove it writable now, rather than failing on every pair later."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"out={out} is a file; give a folder for the fused images")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fusionlab-write-test-"):
            pass
    except OSError as err:
        raise InputError(f"output folder {out} is not writable: {err.strerror or err}") from err
    return out


def _check_out_vs_inputs(out: Path, pairs: Sequence[Pair]) -> None:
    """Fused PNGs are named like the sources: writing them into a source folder could overwrite sources."""
    folders = {f.parent.resolve() for p in pairs for f in p.files}
    if out.resolve() in folders:
        raise InputError(f"out={out} is an input folder; fused images could overwrite the sources: "
                         "choose another output folder")


def _panel(sample: dict[str, Any], fused_rgb: Tensor) -> Tensor:
    """a | b | fused side by side, each in its own colours (the evaluation's panel layout)."""
    return panel(sample["a"], sample["b"], fused_rgb, sample.get("cbcr_a"), sample.get("cbcr_b"))


def _to_hwc(img: Tensor) -> Any:
    return img.permute(1, 2, 0).cpu().numpy()


# -- the loop -------------------------------------------------------------------------------------
def fuse_pairs(model: nn.Module, pairs: Sequence[Pair], out_dir: str | Path, *, method: str = "model",
               task: str | None = None, problems: Sequence[Problem] = (),
               options: FuseOptions | None = None) -> FuseReport:
    """Fuse every pair into ``out_dir/<name>.png``; failures are skipped and reported, never fatal."""
    from fusionlab.data.datasets import PairedImageDataset

    opts = options or FuseOptions()
    out = prepare_output(out_dir)
    device = resolve_device(opts.device)
    model = model.to(device)
    fn = fuse_fn_for(model, task)
    multiple = int(getattr(model, "size_multiple", 1))
    report = FuseReport(out_dir=out, method=method, task=task, skipped=list(problems))
    dataset = PairedImageDataset(pairs, key="fuse", task=task or "unknown")
    bar = _progress(len(pairs), opts.progress)
    start = time.perf_counter()
    for i, pair in enumerate(pairs):
        reason = _fuse_one(dataset, i, pair, fn, out, multiple, device, opts, report)
        if reason is not None:
            report.skipped.append(Problem(pair.name, reason))
        else:
            report.fused.append(pair.name)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


def _fuse_one(dataset: Any, index: int, pair: Pair, fn: FuseFn, out: Path, multiple: int, device: torch.device,
              opts: FuseOptions, report: FuseReport) -> str | None:
    """Fuse one pair; returns why it was skipped, or None when its PNG was written."""
    t0 = time.perf_counter()
    try:
        sample = dataset[index]  # the batch contract: luminance a/b, chroma cbcr_a/cbcr_b when colour
    except (ValueError, OSError) as err:  # unreadable file or pixel sizes that differ (the error names it)
        return " ".join(str(err).split())
    t1 = time.perf_counter()
    a, b = sample["a"][None].to(device), sample["b"][None].to(device)
    try:
        chroma = {k: sample[k][None].to(device) for k in ("cbcr_a", "cbcr_b") if sample.get(k) is not None}
        fused = fuse_luminance(fn, a, b, tile_size=opts.tile_size, tile_overlap=opts.tile_overlap,
                               multiple=multiple, precision=opts.precision, **chroma)[0].cpu()
    except torch.OutOfMemoryError:
        return (f"out of memory fusing {a.shape[-1]}x{a.shape[-2]} (W x H): lower tile_size "
                f"(now {opts.tile_size})")
    except ValueError as err:  # the model refuses this input (e.g. smaller than its minimum size)
        return " ".join(str(err).split())
    except FloatingPointError:
        return "the model produced non-finite values (NaN/Inf) for this pair"
    t2 = time.perf_counter()
    rgb = restore_color(fused, sample.get("cbcr_a"), sample.get("cbcr_b"))
    try:
        write_image(out / f"{pair.name}.png", _to_hwc(rgb), compress_level=1)
        if opts.preview:
            write_image(out / "previews" / f"{pair.name}.png", _to_hwc(_panel(sample, rgb)), compress_level=1)
    except OSError as err:
        return f"cannot write {out / (pair.name + '.png')}: {err.strerror or err}"
    t3 = time.perf_counter()
    for key, dt in (("decode", t1 - t0), ("model", t2 - t1), ("encode", t3 - t2)):
        report.timings[key] += dt
    return None


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="pair", desc="fuse", file=sys.stderr, dynamic_ncols=True, leave=True)


# -- from a composed config -----------------------------------------------------------------------
def run_fuse(cfg: DictConfig) -> FuseReport:
    """Resolve inputs, output, model and task from ``cfg`` (``conf/fuse.yaml``), then fuse every pair."""
    if not cfg.get("a"):
        raise InputError("a= is required: a file or folder of first sources (and b= for the second)")
    if not cfg.get("out"):
        raise InputError("out= is required: the folder for the fused PNGs")
    tile = cfg.get("tile_size")
    options = FuseOptions(
        tile_size=int(tile) if tile is not None else None,
        tile_overlap=int(cfg.get("tile_overlap", 64)),
        preview=bool(cfg.get("preview", False)),
        device=str(cfg.get("device", "cpu")),
        precision=str(cfg.get("precision", "32")),
        progress=bool(cfg.get("progress", True)),
    )
    pairs, problems = find_pairs(cfg.a, cfg.get("b"))
    out = Path(cfg.out)
    _check_out_vs_inputs(out, pairs)
    prepare_output(out)  # fail before loading a model if nothing could be written
    from fusionlab.pretrained import resolve_checkpoint

    loaded = load_model(resolve_checkpoint(cfg), cfg.get("method"), cfg.get("model"))
    task = resolve_task(cfg.get("task"), loaded.run_cfg)
    if not pairs:
        log.warning("no usable pairs found in a=%s b=%s", cfg.a, cfg.get("b"))
    report = fuse_pairs(loaded.model, pairs, out, method=loaded.name, task=task, problems=problems,
                        options=options)
    if report.fused:
        t = report.timings
        total = sum(t.values()) or math.inf
        log.info("time per pair: decode %.0f%%, model %.0f%%, encode %.0f%%",
                 *(100 * t[k] / total for k in ("decode", "model", "encode")))
    return report

"""Export a trained fusion model to ONNX (dynamic batch, height and width) or TorchScript, prove it equal to
PyTorch on an image pair, and write its input/output contract beside it.

The check pair is a real one (``check_a``/``check_b``, or the first pair found under ``paths.data_dir``); where
there is none (a fresh clone), it is the embedded synthetic pair of the model's task
(:mod:`fusionlab.data.synthetic`), and the log and the contract say so.

The exported graph is :class:`PaddedFusion`: it reflect-pads to the model's ``size_multiple`` and crops
back, so a caller feeds any ``H, W >= size_multiple`` exactly as ``fusionlab.fuse`` does. The graph is
traced; a backbone whose trace bakes in the input size is caught by the check, which runs the export at
the real image's size and at an odd crop of it with a batch of two.
"""

from __future__ import annotations

import json
import logging
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

import fusionlab
from fusionlab.inference.pairs import InputError, find_pairs

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
ATOL = 1e-4
# Real pairs tried, in order, for the equality check when no check_a/check_b is given.
CHECK_SOURCES = ("msrs", "harvard/PET-MRI", "lytro")
# Without any real pair: the embedded synthetic test pair of the task, at this size (square; the crop is not).
SYNTHETIC_CHECK_SIZE = 128
_SIZE_HINT = ("If only some sizes fail, the trace baked in a size-dependent step (window attention masks, "
              "chunked scans): this backbone cannot be exported with dynamic height and width; the CNN, "
              "channel-attention transformer and DINOv3 backbones can")


class ExportError(ValueError):
    """The model cannot be exported in this format, or the export does not match PyTorch."""


class PaddedFusion(nn.Module):
    """``fused = model(a, b)`` for any ``H, W >= size_multiple``: pads (reflect) and crops inside the graph."""

    def __init__(self, model: nn.Module, multiple: int) -> None:
        super().__init__()
        self.model = model
        self.multiple = int(multiple)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        h, w = a.shape[-2], a.shape[-1]
        if self.multiple > 1:  # amounts are traced from the input's shape, so they stay dynamic
            ph = (self.multiple - h % self.multiple) % self.multiple
            pw = (self.multiple - w % self.multiple) % self.multiple
            a = F.pad(a, (0, pw, 0, ph), mode="reflect")
            b = F.pad(b, (0, pw, 0, ph), mode="reflect")
        return self.model(a, b)[..., :h, :w]


@dataclass(frozen=True)
class CheckPair:
    """One input of the equality check: a label (file names) and (N, 1, H, W) luminance sources; ``source`` is
    ``real`` (image files) or ``synthetic`` (the embedded suite)."""

    label: str
    a: Tensor
    b: Tensor
    source: str = "real"


def export_model(model: nn.Module, fmt: str, path: str | Path, opset: int = 17) -> Path:
    """Trace ``model`` (wrapped in :class:`PaddedFusion`) and write it to ``path`` in ``fmt``."""
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the export folder {path.parent}: {err.strerror or err}") from err
    multiple = int(getattr(model, "size_multiple", 1))
    wrapped = PaddedFusion(model.eval(), multiple).eval()
    # Non-square and above the multiple, so a trace that confuses H and W or bakes them in fails the check.
    g = torch.Generator().manual_seed(0)
    side = max(multiple, 16)
    sample = tuple(torch.rand(1, 1, 4 * side, 6 * side, generator=g) for _ in range(2))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about python branches: the check decides
            if fmt == "onnx":
                dyn = {0: "N", 2: "H", 3: "W"}
                torch.onnx.export(wrapped, sample, str(path), input_names=["a", "b"], output_names=["fused"],
                                  dynamic_axes={"a": dyn, "b": dyn, "fused": dyn}, opset_version=opset,
                                  dynamo=False)
            else:
                torch.jit.trace(wrapped, sample, check_trace=False).save(str(path))
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from err
    except Exception as err:  # noqa: BLE001 - the exporter's own errors name the unsupported op
        raise ExportError(f"{type(model.backbone).__name__ if hasattr(model, 'backbone') else type(model).__name__} "
                          f"cannot be exported to {fmt}: {type(err).__name__}: {' '.join(str(err).split())[:500]}") from err
    if fmt == "onnx":
        import onnx

        onnx.checker.check_model(str(path))
    return path


def load_exported(path: str | Path, fmt: str) -> Any:
    """A callable ``(a, b) -> fused`` on numpy/torch inputs for an exported file (ONNX Runtime on CPU)."""
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise InputError("the ONNX check needs onnxruntime: pip install 'fusionlab[export]'") from err
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run_onnx(a: Tensor, b: Tensor) -> Tensor:
            out = session.run(["fused"], {"a": a.numpy(), "b": b.numpy()})[0]
            return torch.from_numpy(out)
        return run_onnx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch suggests torch.export; TorchScript is the format asked for
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def run_ts(a: Tensor, b: Tensor) -> Tensor:
        with torch.no_grad():
            return module(a, b)
    return run_ts


def synthetic_check_pair(task: str | None) -> tuple[Tensor, Tensor, str]:
    """The embedded synthetic test pair of ``task`` (ivif when unknown) as (1, 1, H, W) sources and a label."""
    from fusionlab import TASKS
    from fusionlab.data.synthetic import SyntheticFusionDataset

    task = task if task in TASKS else "ivif"
    sample = SyntheticFusionDataset(task, size=SYNTHETIC_CHECK_SIZE, length=1, split="test")[0]
    return sample["a"][None], sample["b"][None], f"embedded synthetic {task} pair {sample['name']}"


def check_pairs(check_a: str | None, check_b: str | None, data_dir: str | Path | None,
                task: str | None = None) -> list[CheckPair]:
    """The pair to check on, plus an odd-size crop of it as a batch of two so that dynamic N/H/W and the padding
    inside the graph are exercised. The pair is ``check_a``/``check_b``, else the first real pair found under
    ``data_dir``, else (a fresh clone) the embedded synthetic pair of ``task``."""
    from fusionlab.data.datasets import PairedImageDataset

    pairs = []
    if bool(check_a) != bool(check_b):
        raise InputError("give both check_a=FILE and check_b=FILE (or neither, to use the shared data)")
    if check_a:
        pairs, problems = find_pairs(check_a, check_b)
        if not pairs:
            raise InputError(f"check pair a={check_a} b={check_b} is unusable: "
                             + "; ".join(str(p) for p in problems))
    elif data_dir and Path(data_dir).is_dir():
        from fusionlab.data.datasets import discover

        for key in CHECK_SOURCES:
            try:
                found, _ = discover(key, data_dir)
            except ValueError:  # that dataset is not there
                continue
            pairs = [p for split in ("test", "all", "train") for p in found.get(split, [])][:1]
            if pairs:
                break
    if pairs:
        pair = pairs[0]
        sample = PairedImageDataset([pair], key="export-check", task="")[0]
        a, b = sample["a"][None], sample["b"][None]
        label, source = f"{pair.a.parent.name}/{pair.a.name} + {pair.b.parent.name}/{pair.b.name}", "real"
    else:
        a, b, label = synthetic_check_pair(task)
        source = "synthetic"
        log.warning("no real image pair to check the export on (none given with check_a/check_b, none of %s under "
                    "paths.data_dir=%s): checking on the %s instead; pass check_a=FILE check_b=FILE or set "
                    "paths.data_dir (FUSIONLAB_DATA) to check on real images", ", ".join(CHECK_SOURCES), data_dir,
                    label)
    h, w = a.shape[-2:]
    ch, cw = h - 3 if h > 8 else h, w - 5 if w > 8 else w  # odd sizes: padding inside the graph is used
    crop_a = torch.cat([a[..., :ch, :cw], a[..., :ch, :cw].flip(-1)])
    crop_b = torch.cat([b[..., :ch, :cw], b[..., :ch, :cw].flip(-1)])
    return [CheckPair(f"{label} ({w}x{h})", a, b, source),
            CheckPair(f"{label} crop {cw}x{ch}, batch 2", crop_a, crop_b, source)]


def check_export(path: str | Path, fmt: str, model: nn.Module, pairs: list[CheckPair],
                 atol: float = ATOL) -> list[dict[str, Any]]:
    """Max |exported - PyTorch| per check pair; raises :class:`ExportError` above ``atol``."""
    run = load_exported(path, fmt)
    results = []
    for pair in pairs:
        with torch.inference_mode():
            ref = model(pair.a, pair.b).float()
        try:
            got = run(pair.a.contiguous(), pair.b.contiguous()).float()
        except Exception as err:  # noqa: BLE001 - ONNX Runtime / TorchScript interpreter failures
            raise ExportError(f"{fmt} export of {path} fails on {pair.label}: {type(err).__name__}: "
                              f"{' '.join(str(err).split())[:300]}. {_SIZE_HINT}") from err
        if got.shape != ref.shape:
            raise ExportError(f"{fmt} export of {path} returns shape {tuple(got.shape)} for {pair.label}, PyTorch "
                              f"{tuple(ref.shape)}. {_SIZE_HINT}")
        diff = float((got - ref).abs().max())
        results.append({"input": pair.label, "source": pair.source, "max_abs_diff": diff, "atol": atol})
        if not diff <= atol:
            raise ExportError(f"{fmt} export of {path} differs from PyTorch by {diff:.3g} > {atol:g} on "
                              f"{pair.label}. {_SIZE_HINT}")
    return results


def contract(model: nn.Module, fmt: str, path: Path, *, ckpt_path: str | None, task: str | None,
             model_cfg: DictConfig | None, checks: list[dict[str, Any]], opset: int | None) -> dict[str, Any]:
    """The exported model's input/output contract as a JSON-able dict."""
    m = int(getattr(model, "size_multiple", 1))
    min_size = max(m, int(getattr(getattr(model, "backbone", None), "min_size", 1)))
    tensor = {"dtype": "float32", "shape": ["N", 1, "H", "W"], "range": [0.0, 1.0]}
    return {
        "file": path.name,
        "format": fmt,
        **({"opset": opset} if fmt == "onnx" else {}),
        "inputs": {
            "a": {**tensor, "meaning": "luminance of source A (BT.601 Y; gray images as they are)"},
            "b": {**tensor, "meaning": "luminance of source B, same N, H and W as a"},
        },
        "outputs": {"fused": {**tensor, "meaning": "fused luminance, same N, H and W as the inputs"}},
        "dynamic_axes": ["N", "H", "W"],
        "size_multiple": m,
        "min_size": min_size,
        "padding": (f"inside the graph: H and W are reflect-padded to a multiple of {m} and the output is "
                    "cropped back, so any H, W >= min_size work" if m > 1 else "none needed"),
        "tiling": "none inside the graph: memory grows with H x W; fuse very large images in tiles "
                  "(fusionlab.models.tiling.tiled_fuse, or python -m fusionlab.fuse tile_size=...)",
        "colour": "the model fuses luminance only. Convert RGB sources to BT.601 full-range YCbCr, feed Y, then "
                  "re-attach chroma: one colour source -> its CbCr; two colour sources -> CbCr blended with "
                  "weights |C - 0.5| (fusionlab.color.restore_color)",
        "task": task,
        "source_checkpoint": str(ckpt_path) if ckpt_path else None,
        "model_config": OmegaConf.to_container(model_cfg, resolve=False) if model_cfg is not None else None,
        "check": checks,
        "check_pair": checks[0].get("source", "real") if checks else None,  # real | synthetic (no real pair)
        "versions": {"fusionlab": fusionlab.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }


def write_contract(info: dict[str, Any], path: Path) -> tuple[Path, Path]:
    """``<file>.json`` (machine-readable) and ``<file>.md`` (for people) beside the exported file."""
    json_path = path.with_name(path.name + ".json")
    json_path.write_text(json.dumps(info, indent=2) + "\n")
    md_path = path.with_name(path.name + ".md")
    synthetic = any(c.get("source") == "synthetic" for c in info["check"])
    check_on = (" (on the embedded synthetic pair: no real pair was given with check_a/check_b or found under "
                "paths.data_dir)" if synthetic else " (on a real image pair)")
    checks = "\n".join(f"- {c['input']}: max |{info['format']} - PyTorch| = {c['max_abs_diff']:.2e} "
                       f"(tolerance {c['atol']:g})" for c in info["check"])
    if info["format"] == "onnx":
        usage = (f'import onnxruntime as ort\nsession = ort.InferenceSession("{path.name}")\n'
                 'fused_y = session.run(["fused"], {"a": y_a, "b": y_b})[0]  # (N, 1, H, W) float32 in [0, 1]')
    else:
        usage = (f'import torch\nmodel = torch.jit.load("{path.name}").eval()\n'
                 "with torch.no_grad():\n    fused_y = model(y_a, y_b)  # (N, 1, H, W) float32 in [0, 1]")
    md_path.write_text(
        f"# {path.name}: fusion model contract\n\n"
        f"Format: {info['format']}{' (opset ' + str(info['opset']) + ')' if 'opset' in info else ''}; "
        f"exported from `{info['source_checkpoint']}`; task: {info['task'] or 'not recorded'}.\n\n"
        "| name | shape | dtype | range | meaning |\n|---|---|---|---|---|\n"
        + "".join(f"| {k} (in) | N x 1 x H x W | float32 | [0, 1] | {v['meaning']} |\n"
                  for k, v in info["inputs"].items())
        + f"| fused (out) | N x 1 x H x W | float32 | [0, 1] | {info['outputs']['fused']['meaning']} |\n\n"
        f"- Sizes: N, H and W are dynamic; H, W >= {info['min_size']}. Padding: {info['padding']}.\n"
        f"- Tiling: {info['tiling']}.\n- Colour: {info['colour']}.\n\n"
        f"Equality check against PyTorch{check_on}:\n{checks}\n\n```python\n{usage}\n```\n"
        "Full details: `" + json_path.name + "`.\n"
    )
    return json_path, md_path


def default_export_path(ckpt_path: str | Path, fmt: str) -> Path:
    """Beside the checkpoint: ``checkpoints/last.ckpt`` -> ``checkpoints/last.onnx``."""
    ckpt = Path(ckpt_path)
    return ckpt.with_name(ckpt.stem + FORMATS[fmt])


def run_export(cfg: DictConfig) -> dict[str, Any]:
    """Load ``cfg.ckpt_path``, export it in ``cfg.format``, check it on an image pair (real, else the embedded
    synthetic one), write the contract."""
    from fusionlab.inference.runner import load_model, resolve_task
    from fusionlab.pretrained import resolve_checkpoint

    ckpt_path = resolve_checkpoint(cfg)
    if not ckpt_path:
        raise InputError("ckpt_path= (or pretrained=NAME) is required: the checkpoint to export")
    fmt = str(cfg.get("format", "onnx")).lower()
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    loaded = load_model(ckpt_path, None, cfg.get("model"))
    model = loaded.model.float().cpu()
    task = resolve_task(cfg.get("task"), loaded.run_cfg)
    # Decode the check pair first: a missing image fails before the (slower) trace.
    pairs = check_pairs(cfg.get("check_a"), cfg.get("check_b"), cfg.get("paths", {}).get("data_dir"), task)
    if cfg.get("out"):
        path = Path(cfg.out)
    elif cfg.get("pretrained"):  # never write into the installed package: the run folder instead
        path = Path(cfg.paths.output_dir) / default_export_path(ckpt_path, fmt).name
    else:
        path = default_export_path(ckpt_path, fmt)
    opset = int(cfg.get("opset", 17))
    export_model(model, fmt, path, opset=opset)
    checks = check_export(path, fmt, model, pairs, atol=float(cfg.get("atol", ATOL)))
    model_cfg = loaded.model_cfg if loaded.model_cfg is not None else cfg.get("model")
    info = contract(model, fmt, path, ckpt_path=str(ckpt_path), task=task, model_cfg=model_cfg,
                    checks=checks, opset=opset if fmt == "onnx" else None)
    json_path, md_path = write_contract(info, path)
    worst = max(c["max_abs_diff"] for c in checks)
    log.info("exported %s (%s); max |%s - PyTorch| = %.2e on the %s check pair; contract %s", path, fmt, fmt, worst,
             pairs[0].source, json_path)
    return {"path": path, "contract": json_path, "readme": md_path, "checks": checks, "info": info}

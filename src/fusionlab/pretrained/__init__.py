"""Pretrained weights shipped inside the package: ``pretrained=<name>`` in fuse, evaluate and export.

Each entry is ``<name>.pt`` (a small fusionlab checkpoint: the model config, the evaluation weights in float32)
and ``<name>.json`` (what it is, the committed recipe and command that trained it, and the metrics it scores on
one shared image, which a test reproduces). Peers hand weights out through cloud drives; ours come with
``pip install`` and need no download.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusionlab.errors import ConfigError, UnknownNameError

WEIGHTS_DIR = Path(__file__).resolve().parent
RECORD_METRICS = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM")
RECORD_IMAGE = ("msrs", "test", "00004N")  # one shared MSRS test pair: <data>/msrs/test/{ir,vi}/00004N.png


def available() -> list[str]:
    """Names of the shipped weights (files ``<name>.pt`` with their ``<name>.json`` beside them)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt") if p.with_suffix(".json").is_file())


def pretrained_path(name: str) -> Path:
    """The checkpoint file of shipped weights ``name``; an unknown name lists the available ones."""
    names = available()
    if str(name) not in names:
        raise UnknownNameError(f"pretrained={name!r} is not shipped; available: {', '.join(names) or '(none)'} "
                               "(or train your own and pass ckpt_path=PATH)")
    return WEIGHTS_DIR / f"{name}.pt"


def card(name: str) -> dict[str, Any]:
    """The weights' description: recipe, command, training data, recorded metrics."""
    return json.loads(pretrained_path(name).with_suffix(".json").read_text())


def resolve_checkpoint(cfg: Any) -> str | None:
    """``ckpt_path`` of a fuse/evaluate/export config, from ``pretrained=NAME`` when that is set (not both)."""
    name, ckpt = cfg.get("pretrained"), cfg.get("ckpt_path")
    if name and ckpt:
        raise ConfigError(f"give either pretrained={name} or ckpt_path={ckpt}, not both")
    return str(pretrained_path(str(name))) if name else (str(ckpt) if ckpt else None)


def read_pair(data_dir: str | Path, image: tuple[str, str, str] = RECORD_IMAGE) -> tuple[torch.Tensor, torch.Tensor]:
    """The recording pair's luminance as ``(1, 1, H, W)`` float32 in [0, 1] (the evaluation's reading)."""
    from fusionlab.data.io import luma_u8, read_image

    dataset, split, stem = image
    root = Path(data_dir) / dataset / split
    a, b = (luma_u8(read_image(root / sub / f"{stem}.png")) for sub in ("ir", "vi"))
    return tuple(torch.from_numpy(np.asarray(x, np.float32) / 255.0).view(1, 1, *x.shape) for x in (a, b))


def score_model(model: torch.nn.Module, a: torch.Tensor, b: torch.Tensor,
                metrics: tuple[str, ...] = RECORD_METRICS) -> dict[str, float]:
    """Fuse in float32 (exact, no autocast), quantise to 8 bits as ``fuse`` saves it, score the headline metrics."""
    from fusionlab.engine.evaluation import fuse_images
    from fusionlab.metrics import compute_metrics

    with torch.inference_mode():
        fused = fuse_images(model, a, b, task="ivif")
    f8, a8, b8 = (torch.round(x.double() * 255.0) for x in (fused, a, b))
    return {k: float(v[0]) for k, v in compute_metrics(f8, a8, b8, metrics).items()}

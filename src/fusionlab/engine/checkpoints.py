"""Checkpoints: safe reading (``weights_only``), and the model a checkpoint rebuilds with its evaluation weights.

Every checkpoint fusionlab writes carries ``checkpoint["fusionlab"]``: the resolved model config, the method
name and, for runs with an EMA, the evaluation weights with the EMA folded in. Older checkpoints fall back to
the run's ``.hydra/config.yaml`` beside ``checkpoints/``. Consumers (evaluate, fuse, export) all go through
:func:`load_evaluation_model`, so no consumer renames keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fusionlab.errors import CheckpointError


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no pickled code runs); bad files fail naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (ckpt_path; `last` means <run dir>/checkpoints/last.ckpt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # mmap: no full read
    except Exception as err:  # noqa: BLE001 - truncated zip, foreign pickle, pickled code, ...
        reason = "unpickling failed" if "Unpickl" in type(err).__name__ else str(err).strip().splitlines()[0][:160]
        raise CheckpointError(f"cannot read checkpoint {path} ({reason}): the file is truncated, not a fusionlab "
                              "checkpoint, or carries pickled code; use an earlier checkpoint") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return ckpt


def run_config_of(ckpt_path: Path) -> DictConfig | None:
    """The composed config Hydra saved for the run that produced ``ckpt_path`` (None if absent)."""
    for parent in ckpt_path.resolve().parents[:3]:
        candidate = parent / ".hydra" / "config.yaml"
        if candidate.is_file():
            return OmegaConf.load(candidate)
    return None


@dataclass
class EvaluationModel:
    """A model rebuilt from a checkpoint, ready for inference, with the name its table rows use."""

    name: str
    model: nn.Module
    model_config: DictConfig
    run_config: DictConfig | None


def _stored_name(run_cfg: DictConfig | None) -> str | None:
    if run_cfg is None:
        return None
    raw = OmegaConf.to_container(run_cfg, resolve=False).get("method_name")
    if isinstance(raw, str) and "${hydra:" in raw:
        return None  # it resolved only inside that run; here it would read this process's Hydra choices
    try:
        return str(run_cfg.method_name) if run_cfg.get("method_name") else None
    except Exception:  # noqa: BLE001 - an older run config with an unresolvable ${hydra:...}
        return None


def load_evaluation_model(ckpt_path: str | Path, fallback_model_cfg: DictConfig | None = None) -> EvaluationModel:
    """Rebuild the checkpoint's own model (its stored config) and load its evaluation weights, in eval mode."""
    path = Path(ckpt_path)
    ckpt = read_checkpoint(path)
    info = ckpt.get("fusionlab") or {}
    run_cfg = run_config_of(path)
    if info.get("model"):
        model_cfg = OmegaConf.create(info["model"])
    elif run_cfg is not None and "model" in run_cfg:
        model_cfg = run_cfg.model
    elif fallback_model_cfg is not None:
        model_cfg = fallback_model_cfg
    else:
        raise CheckpointError(f"{path} carries no model config and has no .hydra/config.yaml beside it: pass the "
                              "model config it was trained with (e.g. model/backbone=cnn model.backbone.width=16)")
    weights = info.get("eval_state_dict")
    if weights is None:
        state = ckpt["state_dict"]
        weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")} or state
    model = instantiate(model_cfg)
    _load_weights(model, weights, path, model_cfg)
    model.eval().requires_grad_(False)
    name = info.get("method_name") or _stored_name(run_cfg) or path.stem
    return EvaluationModel(str(name), model, model_cfg, run_cfg)


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path, model_cfg: DictConfig) -> None:
    what = f"_target_ {model_cfg.get('_target_')}, backbone {(model_cfg.get('backbone') or {}).get('_target_')}"
    try:
        result = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # tensors of other shapes (e.g. another width)
        lines = [ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln]
        raise CheckpointError(f"checkpoint {path} does not match the model config ({what}): {len(lines)} tensor(s) "
                              "differ in shape, e.g. " + "; ".join(lines[:2])) from err
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"checkpoint {path} does not match the model config ({what}): missing "
                              f"{list(result.missing_keys)[:5]}, unexpected {list(result.unexpected_keys)[:5]}")

"""Inference outside training: fuse image pairs from disk (``python -m fusionlab.fuse``) and export
models to ONNX / TorchScript (``python -m fusionlab.export``). Importable and testable without Hydra."""

from fusionlab.inference.exporter import PaddedFusion, check_export, export_model, run_export
from fusionlab.inference.pairs import InputError, find_pairs
from fusionlab.inference.runner import (
    FuseOptions,
    FuseReport,
    fuse_luminance,
    fuse_pairs,
    load_model,
    resolve_task,
    run_fuse,
)

__all__ = [
    "FuseOptions",
    "FuseReport",
    "InputError",
    "PaddedFusion",
    "check_export",
    "export_model",
    "find_pairs",
    "fuse_luminance",
    "fuse_pairs",
    "load_model",
    "resolve_task",
    "run_export",
    "run_fuse",
]

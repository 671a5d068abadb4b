"""`fusionlab.export`: ONNX (dynamic N/H/W) and TorchScript equal PyTorch on real images; the contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusionlab.config import compose
from fusionlab.data.datasets import PairedImageDataset
from fusionlab.inference import InputError, find_pairs, load_model, run_export
from fusionlab.inference.exporter import ExportError, check_export, load_exported


def export_cfg(tmp_path, *overrides: str):
    return compose(list(overrides), config_name="export", output_dir=tmp_path / "hydra")


def real_pair(path_a, path_b) -> tuple[torch.Tensor, torch.Tensor]:
    pairs, _ = find_pairs(path_a, path_b)
    sample = PairedImageDataset(pairs, key="t", task="")[0]
    return sample["a"][None], sample["b"][None]


def test_onnx_equals_pytorch(checkpoint, data_dir, tmp_path):
    msrs = data_dir / "msrs" / "test"
    out = tmp_path / "model.onnx"
    result = run_export(export_cfg(tmp_path, f"ckpt_path={checkpoint}", "format=onnx", f"out={out}",
                                   f"check_a={msrs / 'ir' / '00004N.png'}", f"check_b={msrs / 'vi' / '00004N.png'}"))
    assert out.is_file() and len(result["checks"]) == 2
    assert all(c["max_abs_diff"] < 1e-4 for c in result["checks"])
    info = json.loads((tmp_path / "model.onnx.json").read_text())
    assert info["inputs"]["a"]["shape"] == ["N", 1, "H", "W"] and info["size_multiple"] == 4
    assert info["task"] == "ivif" and info["model_config"]["backbone"]["width"] == 4
    assert "onnxruntime" in (tmp_path / "model.onnx.md").read_text()
    # independently: another dataset, another size (256x256 Harvard, colour PET), straight through onnxruntime
    model = load_model(checkpoint).model
    pet = data_dir / "harvard" / "PET-MRI"
    a, b = real_pair(pet / "MRI" / "25015.png", pet / "PET" / "25015.png")
    a, b = a[..., :253, :250], b[..., :253, :250]  # not a multiple of 4: padding inside the graph
    got = load_exported(out, "onnx")(a.contiguous(), b.contiguous())
    with torch.inference_mode():
        ref = model(a, b)
    assert got.shape == ref.shape and float((got - ref).abs().max()) < 1e-4


def test_torchscript_export_and_default_path(checkpoint, data_dir, tmp_path):
    """Default path beside the checkpoint; the check pair comes from paths.data_dir."""
    import shutil

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    shutil.copytree(checkpoint.parents[1], tmp_path / "run")
    result = run_export(export_cfg(tmp_path, f"ckpt_path={ckpt}", "format=torchscript", f"paths.data_dir={data_dir}"))
    assert result["path"] == ckpt.with_name("last.torchscript.pt") and result["path"].is_file()
    assert "00004N.png" in result["checks"][0]["input"]  # first MSRS test pair
    assert all(c["max_abs_diff"] < 1e-4 for c in result["checks"])


def test_export_errors(checkpoint, tmp_path):
    with pytest.raises(InputError, match="format must be one of"):
        run_export(export_cfg(tmp_path, f"ckpt_path={checkpoint}", "format=tflite"))
    with pytest.raises(InputError, match="give both check_a=FILE and check_b=FILE"):
        run_export(export_cfg(tmp_path, f"ckpt_path={checkpoint}", "check_a=ir.png"))
    with pytest.raises(InputError, match=r"ckpt_path= \(or pretrained=NAME\) is required"):
        run_export(export_cfg(tmp_path))


def test_without_a_real_pair_the_check_uses_the_embedded_synthetic_pair(checkpoint, tmp_path, caplog):
    """A fresh clone (no check pair given, no data under paths.data_dir): checked on the synthetic pair of the
    checkpoint's task, and the log and the contract say so."""
    out = tmp_path / "model.onnx"
    with caplog.at_level("WARNING", logger="fusionlab.inference.exporter"):
        result = run_export(export_cfg(tmp_path, f"ckpt_path={checkpoint}", f"paths.data_dir={tmp_path / 'none'}",
                                       f"out={out}"))
    assert "embedded synthetic ivif pair" in caplog.text and "check_a=FILE check_b=FILE" in caplog.text
    assert [c["source"] for c in result["checks"]] == ["synthetic", "synthetic"]
    assert "128x128" in result["checks"][0]["input"] and "crop 123x125, batch 2" in result["checks"][1]["input"]
    assert all(c["max_abs_diff"] < 1e-4 for c in result["checks"])
    info = json.loads((tmp_path / "model.onnx.json").read_text())
    assert info["check_pair"] == "synthetic" and "synthetic ivif" in info["check"][0]["input"]
    assert "embedded synthetic pair" in (tmp_path / "model.onnx.md").read_text()


def test_check_catches_a_wrong_export(checkpoint, tmp_path):
    """The equality check is what guards the export: a different model's file must fail it."""
    from fusionlab.inference.exporter import CheckPair, export_model

    model = load_model(checkpoint).model
    other = load_model(checkpoint).model
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05)
    path = export_model(other, "onnx", tmp_path / "other.onnx")
    g = torch.Generator().manual_seed(0)
    pair = CheckPair("random", torch.rand(1, 1, 37, 45, generator=g), torch.rand(1, 1, 37, 45, generator=g))
    with pytest.raises(ExportError, match="differs from PyTorch"):
        check_export(path, "onnx", model, [pair])
    assert np.isfinite(check_export(path, "onnx", other, [pair])[0]["max_abs_diff"])

"""Loss terms: values on known inputs, task-dependent targets, weights and ablation, bf16 safety."""

from __future__ import annotations

import pytest
import torch

from fusionlab.losses import GradientLoss, IntensityLoss, Objective, SSIMLoss
from fusionlab.losses.ops import sobel_magnitude, ssim_map
from fusionlab.losses.pixel import intensity_target


def _batch(task: str = "ivif", size: int = 24):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 1, size, size, generator=g), torch.rand(2, 1, size, size, generator=g)
    return {"a": a, "b": b, "task": [task, task]}


def test_intensity_target_follows_the_task():
    batch = _batch()
    a, b = batch["a"], batch["b"]
    mixed = intensity_target(a, b, ["ivif", "mef"], "task")
    assert torch.equal(mixed[0], torch.maximum(a, b)[0])
    assert torch.allclose(mixed[1], 0.5 * (a + b)[1])
    with pytest.raises(ValueError, match="rule"):
        IntensityLoss(rule="median")


def test_terms_are_zero_at_their_optimum():
    batch = _batch("ivif")
    best = torch.maximum(batch["a"], batch["b"])
    assert float(IntensityLoss()(best, batch)) == 0.0
    same = {"a": batch["a"], "b": batch["a"], "task": ["mff", "mff"]}
    assert float(GradientLoss()(batch["a"], same)) == pytest.approx(0.0, abs=1e-7)
    assert float(SSIMLoss()(batch["a"], same)) == pytest.approx(0.0, abs=1e-5)
    assert float(SSIMLoss()(1 - batch["a"], same)) > 0.5


def test_sobel_and_ssim_ops():
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]
    mag = sobel_magnitude(ramp)
    assert torch.allclose(mag[..., 2:-2, 2:-2], torch.full_like(mag[..., 2:-2, 2:-2], 8.0))
    x = torch.rand(1, 1, 16, 16)
    assert torch.allclose(ssim_map(x, x), torch.ones_like(x), atol=1e-5)


def test_objective_weights_parts_and_ablation():
    batch = _batch()
    fused = torch.rand(2, 1, 24, 24, requires_grad=True)
    obj = Objective({"intensity": IntensityLoss(2.0), "gradient": GradientLoss(3.0), "ssim": SSIMLoss(0.0)})
    total, parts = obj(fused, batch)
    assert set(parts) == {"intensity", "gradient"}  # weight 0 = ablated: not computed, not logged
    assert torch.allclose(total, 2.0 * parts["intensity"] + 3.0 * parts["gradient"])
    total.backward()
    assert fused.grad is not None and torch.isfinite(fused.grad).all()


def test_bad_weights_and_terms():
    with pytest.raises(ValueError, match="weight"):
        IntensityLoss(weight=-1)
    with pytest.raises(ValueError, match="every loss weight is 0"):
        Objective({"intensity": IntensityLoss(0.0)})
    with pytest.raises(TypeError, match="loss.terms.l1"):
        Objective({"l1": torch.nn.L1Loss()})


def test_terms_compute_in_float32_under_bf16_autocast():
    batch = _batch()
    fused = torch.rand(2, 1, 24, 24)
    obj = Objective({"intensity": IntensityLoss(), "gradient": GradientLoss(), "ssim": SSIMLoss()})
    ref, _ = obj(fused, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, parts = obj(fused.bfloat16(), batch)
    assert out.dtype == torch.float32 and all(p.dtype == torch.float32 for p in parts.values())
    assert torch.allclose(out, ref, rtol=2e-2)

"""Frequency-aware decoupling wrapper and the detail term."""

from __future__ import annotations

import pytest
import torch

from fusionlab.losses import (
    DetailLoss,
    FrequencyDecoupledLoss,
    GradientLoss,
    IntensityLoss,
    ReconstructionLoss,
    SemanticEntropyLoss,
)
from fusionlab.losses.frequency import split_bands


def _batch():
    g = torch.Generator().manual_seed(9)
    return {"a": torch.rand(2, 1, 32, 32, generator=g), "b": torch.rand(2, 1, 32, 32, generator=g),
            "task": ["ivif", "ivif"]}


@pytest.mark.parametrize("split", ["gaussian", "fft"])
def test_bands_sum_to_the_image_and_separate_frequencies(split):
    x = torch.rand(2, 1, 32, 32)
    low, high = split_bands(x, split, sigma=2.0, cutoff=0.1)
    assert torch.allclose(low + high, x, atol=1e-5)
    flat = torch.full((1, 1, 32, 32), 0.7)
    low_f, high_f = split_bands(flat, split)
    assert torch.allclose(low_f, flat, atol=1e-5) and float(high_f.abs().max()) < 1e-5
    checker = (torch.arange(32).view(-1, 1) + torch.arange(32)).remainder(2).float().view(1, 1, 32, 32)
    low_c, _ = split_bands(checker, split)
    assert float(low_c.std()) < 0.05  # the finest pattern is all high band


def test_wrapper_applies_terms_to_bands():
    batch = _batch()
    low_a, high_a = split_bands(batch["a"])
    wrapper = FrequencyDecoupledLoss(low={"int": IntensityLoss(2.0, rule="max")}, high={"detail": DetailLoss(3.0)})
    fused = torch.rand(2, 1, 32, 32)
    f_low, f_high = split_bands(fused)
    low_b, high_b = split_bands(batch["b"])
    expected = 2.0 * (f_low - torch.maximum(low_a, low_b)).abs().mean() + 3.0 * (
        f_high - torch.where(high_a.abs() >= high_b.abs(), high_a, high_b)).abs().mean()
    assert float(wrapper(fused, batch)) == pytest.approx(float(expected), rel=1e-5)
    assert set(wrapper.last_parts) == {"low.int", "high.detail"}
    # a source's own bands are the optimum of both groups
    same = {**batch, "b": batch["a"]}
    assert float(wrapper(batch["a"], same)) == pytest.approx(0.0, abs=1e-6)
    # split=none: both groups on the full image (the no-decoupling ablation)
    plain = FrequencyDecoupledLoss(low={"int": IntensityLoss(1.0, rule="max")}, split="none")
    assert float(plain(fused, batch)) == pytest.approx(float(IntensityLoss(rule="max")(fused, batch)), rel=1e-6)
    # ablating every sub-term leaves a zero term
    off = FrequencyDecoupledLoss(high={"detail": DetailLoss(0.0)})
    assert float(off(fused, batch)) == 0.0


def test_wrapper_gradients_bf16_and_validation():
    batch = _batch()
    wrapper = FrequencyDecoupledLoss(low={"semantic": SemanticEntropyLoss()},
                                     high={"detail": DetailLoss(20.0), "gradient": GradientLoss(10.0)})
    fused = (0.5 * (batch["a"] + batch["b"])).requires_grad_(True)
    value = wrapper(fused, batch)
    (grad,) = torch.autograd.grad(value, fused)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = wrapper(fused.detach().bfloat16(), {**batch, "a": batch["a"].bfloat16(), "b": batch["b"].bfloat16()})
    assert low.dtype == torch.float32 and float(low) == pytest.approx(float(value), rel=3e-2)
    with pytest.raises(ValueError, match="lower level"):
        FrequencyDecoupledLoss(high={"rec": ReconstructionLoss()})
    with pytest.raises(TypeError, match="frequency.low.l1"):
        FrequencyDecoupledLoss(low={"l1": torch.nn.L1Loss()})
    with pytest.raises(ValueError, match="split"):
        FrequencyDecoupledLoss(low={"d": DetailLoss()}, split="wavelet")

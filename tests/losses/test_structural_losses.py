"""Gradient-weighted SSIM and MS-SSIM: optimum values, weights, gradients, bf16 safety."""

from __future__ import annotations

import pytest
import torch

from fusionlab.losses import MSSSIMLoss, SSIMLoss, WeightedSSIMLoss
from fusionlab.losses.structural import ms_ssim, source_weights


def _pair(size: int = 32):
    g = torch.Generator().manual_seed(3)
    return torch.rand(2, 1, size, size, generator=g), torch.rand(2, 1, size, size, generator=g)


def test_weighted_ssim_is_zero_at_identity_and_equal_weighting_matches_ssim():
    a, b = _pair()
    same = {"a": a, "b": a}
    for weighting in ("equal", "batch", "image", "local"):
        assert float(WeightedSSIMLoss(weighting=weighting)(a, same)) == pytest.approx(0.0, abs=1e-5)
    batch = {"a": a, "b": b}
    fused = 0.5 * (a + b)
    assert float(WeightedSSIMLoss(weighting="equal")(fused, batch)) == pytest.approx(float(SSIMLoss()(fused, batch)),
                                                                                     abs=1e-6)
    with pytest.raises(ValueError, match="weighting"):
        WeightedSSIMLoss(weighting="max")


def test_source_weights_follow_structure_and_sum_to_one():
    a, _ = _pair()
    flat = torch.full_like(a, 0.5)
    for weighting in ("batch", "image", "local"):
        for measure in ("gradient", "variance"):
            wa, wb = source_weights(a, flat, weighting, measure)
            assert torch.allclose(wa + wb, torch.ones_like(wa))
            assert float(wa.min()) > 0.9  # the textured source carries (almost) all the structure
    # local weights switch sides where the texture does
    left = torch.cat((a[..., :16], flat[..., 16:]), -1)
    right = torch.cat((flat[..., :16], a[..., 16:]), -1)
    wa, _ = source_weights(left, right, "local")
    assert float(wa[..., :8].mean()) > 0.9 and float(wa[..., -8:].mean()) < 0.1
    # the weighted loss prefers the fused image that copies each side's textured source
    batch = {"a": left, "b": right}
    good, bad = a, flat
    term = WeightedSSIMLoss(weighting="local")
    assert float(term(good, batch)) < float(term(bad, batch))


def test_ms_ssim_values_and_scale_cap():
    a, b = _pair(64)
    assert torch.allclose(ms_ssim(a, a), torch.ones(2), atol=1e-5)
    assert float(ms_ssim(a, b).max()) < 0.5
    # tiny inputs still work (scales capped, exponents renormalised)
    assert torch.isfinite(ms_ssim(a[..., :12, :12], b[..., :12, :12])).all()
    assert float(MSSSIMLoss()(a, {"a": a, "b": a})) == pytest.approx(0.0, abs=1e-5)
    assert float(MSSSIMLoss(against="target")(a, {"a": b, "b": b, "target": a})) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(KeyError, match="target"):
        MSSSIMLoss(against="target")(a, {"a": a, "b": b})
    with pytest.raises(ValueError, match="scales"):
        MSSSIMLoss(scales=6)


@pytest.mark.parametrize("term", [WeightedSSIMLoss(), WeightedSSIMLoss(weighting="batch", measure="variance"),
                                  MSSSIMLoss()])
def test_gradients_and_bf16(term):
    a, b = _pair()
    batch = {"a": a, "b": b}
    fused = (0.5 * (a + b)).requires_grad_(True)
    value = term(fused, batch)
    (grad,) = torch.autograd.grad(value, fused)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = term(fused.detach().bfloat16(), {"a": a.bfloat16(), "b": b.bfloat16()})
    assert low.dtype == torch.float32
    assert float(low) == pytest.approx(float(value), rel=5e-2, abs=5e-3)

"""CDDFuse base/detail decomposition loss on features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fusionlab.losses import DecompositionLoss
from fusionlab.losses.decomposition import correlation


def _levels(detail_shared: float, seed: int = 0):
    """Two sources' 2-level pyramids: a shared coarse level, fine levels sharing ``detail_shared`` of their content."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.randn(2, 8, 2, 2, generator=g), size=(8, 8), mode="bilinear")  # smooth, shared
    common = torch.randn(2, 4, 32, 32, generator=g)
    da = detail_shared * common + (1 - detail_shared) * torch.randn(2, 4, 32, 32, generator=g)
    db = detail_shared * common + (1 - detail_shared) * torch.randn(2, 4, 32, 32, generator=g)
    coarse_a = base + 0.02 * torch.randn(2, 8, 8, 8, generator=g)
    coarse_b = base + 0.02 * torch.randn(2, 8, 8, 8, generator=g)
    return {"features_a": [da, coarse_a], "features_b": [db, coarse_b]}


def test_correlation():
    x = torch.randn(2, 3, 16, 16)
    assert float(correlation(x, 2 * x + 1)) == pytest.approx(1.0, abs=1e-5)
    assert float(correlation(x, -x)) == pytest.approx(-1.0, abs=1e-5)


@pytest.mark.parametrize("split", ["levels", "lowpass"])
def test_loss_decreases_as_details_decorrelate(split):
    term = DecompositionLoss(split=split)
    fused = torch.zeros(2, 1, 32, 32)
    levels = [_levels(s) for s in (1.0, 0.7, 0.3, 0.0)]
    if split == "lowpass":  # the band split needs no pyramid: the finest level alone
        levels = [{k: v[:1] for k, v in f.items()} for f in levels]
    values = [float(term(fused, f)) for f in levels]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 0.05 * values[0]
    if split == "levels":  # same details, correlated bases: cc_D = 1, cc_B ~ 1 -> 1 / 2.01
        assert values[0] == pytest.approx(1 / 2.01, rel=0.02)


def test_gradient_reaches_features_and_missing_features_fail():
    feats = _levels(0.5)
    leaves = [f.requires_grad_(True) for f in feats["features_a"]]
    term = DecompositionLoss()
    assert term.needs_features
    value = term(torch.zeros(2, 1, 32, 32), feats)
    grads = torch.autograd.grad(value, leaves)
    assert all(torch.isfinite(g).all() and float(g.abs().sum()) > 0 for g in grads)
    with pytest.raises(KeyError, match="decomposition.*features_a"):
        term(torch.zeros(2, 1, 8, 8), {"a": torch.zeros(2, 1, 8, 8)})
    with pytest.raises(ValueError, match="lowpass"):
        term(torch.zeros(2, 1, 8, 8), {"features_a": [feats["features_a"][0]], "features_b": [feats["features_b"][0]]})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = term(torch.zeros(2, 1, 8, 8), {k: [f.detach().bfloat16() for f in v] for k, v in feats.items()})
    assert low.dtype == torch.float32 and float(low) == pytest.approx(float(value), rel=5e-2)

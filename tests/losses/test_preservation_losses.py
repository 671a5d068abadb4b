"""Source-preservation loss terms: differentiable Qabf and SCD, checked against the metrics they stand for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fusionlab.losses.preservation import (
    CorrelationOfDifferencesLoss,
    EdgePreservationLoss,
    correlation_of_differences,
    edge_preservation,
)
from fusionlab.metrics.edges import qabf
from fusionlab.metrics.statistics import scd


def _gray(path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("L"))).float()[None, None]


@pytest.fixture
def msrs_pairs(data_dir):
    irs = sorted((data_dir / "msrs" / "test" / "ir").glob("*.png"))[:3]
    assert irs, f"no MSRS test pairs under {data_dir / 'msrs'}"
    return [(_gray(p), _gray(p.parent.parent / "vi" / p.name)) for p in irs]


@pytest.mark.parametrize("rule", ["average", "max"])
def test_surrogates_track_the_metrics_on_real_pairs(msrs_pairs, rule):
    """Same definitions as the metrics: Qabf within 0.01 (epsilon, the reference's G = g_F quirk), SCD 1e-3."""
    for a, b in msrs_pairs:
        f = ((a + b) / 2 if rule == "average" else torch.maximum(a, b)).round()
        q_ref, q = float(qabf(f, a, b)), float(edge_preservation(f / 255, a / 255, b / 255))
        assert q == pytest.approx(q_ref, abs=0.01)
        s_ref, s = float(scd(f, a, b)), float(correlation_of_differences(f / 255, a / 255, b / 255))
        assert s == pytest.approx(s_ref, abs=1e-3)


def test_edge_preservation_is_one_for_a_source_with_all_edges():
    """F = A where B is black keeps every edge: Q at the sigmoids' ceiling, 0.9994·0.9879 (zero padding, as the
    metric: a black B has no edges even at the border)."""
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 32, 32, generator=g)
    b = torch.zeros_like(a)
    assert float(edge_preservation(a, a, b)) == pytest.approx(0.9994 * 0.9879, abs=2e-3)
    assert float(edge_preservation(b, a, b)) < 0.01  # nothing of A kept


def test_edge_loss_ranks_fusions_and_has_gradients():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 1, 24, 24, generator=g)
    b = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 24, 24, generator=g), 3, 1, 1)  # smoother source
    term = EdgePreservationLoss(weight=1.0)
    batch = {"a": a, "b": b}
    sharp, blurred = a.clone(), torch.nn.functional.avg_pool2d(a, 5, 1, 2)
    assert float(term(sharp, batch)) < float(term(blurred, batch))
    fused = (0.5 * (a + b)).requires_grad_(True)
    loss = term(fused, batch)
    loss.backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0


def test_edge_loss_gradient_is_finite_on_flat_images():
    flat = torch.full((1, 1, 16, 16), 0.3, requires_grad=True)
    loss = EdgePreservationLoss()(flat, {"a": torch.full((1, 1, 16, 16), 0.2), "b": torch.full((1, 1, 16, 16), 0.4)})
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(flat.grad).all()


def test_scd_loss_prefers_carrying_both_sources():
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    term = CorrelationOfDifferencesLoss(weight=1.0)
    batch = {"a": a, "b": b}
    assert float(term(a + b, batch)) < float(term(0.5 * (a + b), batch)) + 1e-6
    assert float(term(a + b, batch)) == pytest.approx(0.0, abs=1e-5)  # r = 1 on both sides: SCD = 2

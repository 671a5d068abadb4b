"""torchmetrics wrappers: exact dataset means, DDP-style state merging, NaN accounting, collections."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from fusionlab.metrics import FusionMetric, build_metric_collection, compute_metrics

NAMES = ["EN", "MI", "Qabf", "SSIM", "VIF", "VIFF"]


def _batch(seed: int, n: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.round(F.avg_pool2d(torch.rand(n, 1, 50, 54, generator=g, dtype=torch.float64), 5, 1) * 255)
    b = torch.round(
        F.avg_pool2d(torch.rand(n, 1, 50, 54, generator=g, dtype=torch.float64), 3, 1)[..., 1:-1, 1:-1] * 255
    )
    return torch.maximum(a, b), a, b


def test_mean_over_batches_is_exact() -> None:
    f, a, b = _batch(0, 6)
    metric = FusionMetric("Qabf", "tang")
    metric.update(f[:4], a[:4], b[:4])
    metric.update(f[4:], a[4:], b[4:])
    expected = compute_metrics(f, a, b, ["Qabf"], "tang")["Qabf"].mean()
    torch.testing.assert_close(metric.compute(), expected, rtol=1e-14, atol=0)
    assert metric.total.dtype == torch.float64 and metric.count.item() == 6


@pytest.mark.parametrize("name", NAMES)
def test_ddp_style_merge_equals_single_pass(name: str) -> None:
    f, a, b = _batch(1, 5)
    whole = FusionMetric(name)
    whole.update(f, a, b)
    rank0, rank1 = FusionMetric(name), FusionMetric(name)
    rank0.update(f[:2], a[:2], b[:2])
    rank1.update(f[2:], a[2:], b[2:])
    # What DDP does: gather each state and apply its dist_reduce_fx (sum for all of them).
    reduced = {s: torch.stack([getattr(rank0, s), getattr(rank1, s)]).sum(0) for s in ("total", "count")}
    torch.testing.assert_close(reduced["total"] / reduced["count"], whole.compute(), rtol=1e-14, atol=0)
    rank0.merge_state(rank1)
    torch.testing.assert_close(rank0.compute(), whole.compute(), rtol=1e-14, atol=0)
    assert rank0.count.item() == 5


def test_nan_images_are_counted_not_averaged() -> None:
    f, a, b = _batch(2, 3)
    a = a.clone()
    a[1] = 50.0  # constant source: CC undefined for image 1 only
    metric = FusionMetric("CC")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        metric.update(f, a, b)
        values = compute_metrics(f, a, b, ["CC"])["CC"]
    assert metric.count.item() == 2 and metric.nan_count.item() == 1
    torch.testing.assert_close(metric.compute(), values[[0, 2]].mean())


def test_empty_metric_is_nan() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.isnan(FusionMetric("EN").compute())


def test_unit_range_inputs_are_rounded_first() -> None:
    f, a, b = _batch(3, 2)
    m255, unit = FusionMetric("SF"), FusionMetric("SF", unit_range=True)
    m255.update(f, a, b)
    unit.update(f / 255, a / 255, b / 255)
    torch.testing.assert_close(unit.compute(), m255.compute())


def test_collection_keys_prefix_and_values() -> None:
    f, a, b = _batch(4, 3)
    coll = build_metric_collection(NAMES, convention="tang", prefix="test/")
    coll.update(f[:1], a[:1], b[:1])
    coll.update(f[1:], a[1:], b[1:])
    out = coll.compute()
    assert set(out) == {f"test/{n}" for n in NAMES}
    expected = compute_metrics(f, a, b, NAMES, "tang")
    for n in NAMES:
        torch.testing.assert_close(out[f"test/{n}"], expected[n].mean(), rtol=1e-13, atol=0, msg=n)
    coll.reset()
    assert all(m.count.item() == 0 for m in coll.values())


def test_unknown_names_fail_early() -> None:
    with pytest.raises(KeyError, match="available"):
        FusionMetric("PSNRR")
    with pytest.raises(ValueError, match="convention"):
        build_metric_collection(["EN"], convention="matlab")

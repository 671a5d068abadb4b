"""The metric API contract: names, conventions, bad input, undefined values, batching and invariances."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from fusionlab.metrics import (
    CONVENTIONS,
    DEFAULT_METRICS,
    METRICS,
    compute_metrics,
    compute_reference_metrics,
    to_metric_range,
)

CSV_COLUMNS = "EN SD SF AG MI SCD VIF VIFF Qabf Nabf SSIM MS_SSIM PSNR CC MSE Qcb Qcv FMI_pixel".split()
MORE_COLUMNS = "MEF_SSIM MEF_MSSSIM Qy Qc Qs Qw Qe Qw_mefb CE EI RMSE RMSE_vifb Qp".split()
FAST = [n for n in METRICS if n not in ("FMI_pixel", "MS_SSIM", "Qp")]


def _smooth(seed: int, size: tuple[int, int] = (48, 56), batch: int = 1) -> torch.Tensor:
    """A textured 8-bit image: blurred noise stretched to 0..255 and rounded."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, size[0] + 6, size[1] + 6, generator=g, dtype=torch.float64)
    x = F.avg_pool2d(x, 7, stride=1)
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return torch.round((x - lo) / (hi - lo) * 255)


@pytest.fixture(scope="module")
def triple() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b = _smooth(1, batch=2), _smooth(2, batch=2)
    return torch.floor((a + b) / 2 + 0.5), a, b


def test_registry_names_and_defaults() -> None:
    assert list(METRICS) == CSV_COLUMNS + MORE_COLUMNS
    assert CONVENTIONS == ("cddfuse", "tang", "vifb")
    assert DEFAULT_METRICS == [n for n in CSV_COLUMNS if n != "FMI_pixel"]
    assert METRICS["Nabf"].higher_is_better is False and METRICS["Qabf"].higher_is_better is True
    assert [n for n in MORE_COLUMNS if METRICS[n].higher_is_better is False] == ["CE", "RMSE", "RMSE_vifb"]
    assert {n for n, s in METRICS.items() if s.by_convention} == {"AG", "MI", "SF", "SSIM", "PSNR", "MSE"}


def test_values_are_float64_per_image(triple) -> None:
    f, a, b = triple
    out = compute_metrics(f, a, b, FAST)
    assert set(out) == set(FAST)
    for name, v in out.items():
        assert v.shape == (2,) and v.dtype == torch.float64, name
        assert torch.isfinite(v).all(), name


def test_batch_equals_one_by_one(triple) -> None:
    f, a, b = triple
    batched = compute_metrics(f, a, b, FAST, "tang")
    for i in range(2):
        single = compute_metrics(f[i : i + 1], a[i : i + 1], b[i : i + 1], FAST, "tang")
        for name in FAST:
            torch.testing.assert_close(batched[name][i], single[name][0], rtol=1e-12, atol=1e-12, msg=name)


def test_symmetric_in_the_sources(triple) -> None:
    f, a, b = triple
    ab = compute_metrics(f, a, b, FAST)
    ba = compute_metrics(f, b, a, FAST)
    for name in FAST:
        if name in ("VIFF", "Qc"):  # VIFF: ties of the gain go to A; Qc: q := 0 where sim < 0, 1 where sim > 1
            continue
        torch.testing.assert_close(ab[name], ba[name], rtol=1e-10, atol=1e-12, msg=name)


def test_convention_relations(triple) -> None:
    f, a, b = triple
    c = compute_metrics(f, a, b, FAST, "cddfuse")
    t = compute_metrics(f, a, b, FAST, "tang")
    h, w = f.shape[-2:]
    torch.testing.assert_close(t["MSE"], c["MSE"] / 255**2)
    torch.testing.assert_close(t["AG"], c["AG"] * h * w / ((h - 1) * (w - 1)))
    peak = f.amax(dim=(-3, -2, -1))
    torch.testing.assert_close(t["PSNR"] - c["PSNR"], 20 * torch.log10(255**2 / peak))
    for name in FAST:
        if not METRICS[name].by_convention:
            torch.testing.assert_close(t[name], c[name], msg=name)
    assert (t["MI"] > c["MI"]).all()  # bits > nats


def test_unknown_metric_lists_available(triple) -> None:
    with pytest.raises(KeyError, match="available: EN, SD"):
        compute_metrics(*triple, ["EN", "QQ"])


def test_unknown_convention(triple) -> None:
    with pytest.raises(ValueError, match="cddfuse, tang, vifb"):
        compute_metrics(*triple, ["EN"], convention="matlab")


def test_mismatched_sizes_name_both_shapes() -> None:
    a = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"\(1, 1, 8, 9\).*\(1, 1, 8, 8\)"):
        compute_metrics(torch.zeros(1, 1, 8, 9), a, a, ["EN"])


def test_wrong_rank_is_rejected() -> None:
    x = torch.zeros(8, 8)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        compute_metrics(x, x, x, ["EN"])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_rejected(triple, bad) -> None:
    f, a, b = (x.clone() for x in triple)
    f[1, 0, 3, 4] = bad
    with pytest.raises(ValueError, match=r"'f' has non-finite.*\[1\]"):
        compute_metrics(f, a, b, ["EN"])


def test_constant_image_gives_nan_with_warning(triple) -> None:
    f, a, b = triple
    const = torch.full_like(a, 80.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compute_metrics(f, const, b, ["CC", "SCD", "EN", "Qabf"])
    messages = " | ".join(str(w.message) for w in caught if w.category is RuntimeWarning)
    assert "CC is undefined" in messages and "SCD is undefined" in messages
    assert torch.isnan(out["CC"]).all() and torch.isnan(out["SCD"]).all()
    assert torch.isfinite(out["EN"]).all() and torch.isfinite(out["Qabf"]).all()


def test_undefined_metric_does_not_break_the_others(triple) -> None:
    f, a, b = triple
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compute_metrics(a, a, a, FAST)  # F = A = B: zero error, SCD of constants, ...
    assert torch.isnan(out["PSNR"]).all() and torch.isnan(out["SCD"]).all()
    assert torch.allclose(out["CC"], torch.ones(2, dtype=torch.float64))
    assert any("PSNR" in str(w.message) for w in caught)


def test_ms_ssim_small_images_nan() -> None:
    x = _smooth(3)
    with pytest.warns(RuntimeWarning, match="MS_SSIM"):
        out = compute_metrics(x, x, x, ["MS_SSIM"])
    assert math.isnan(out["MS_SSIM"].item())


def test_ms_ssim_identical_is_two() -> None:
    x = _smooth(4, size=(170, 175))
    out = compute_metrics(x, x, x, ["MS_SSIM", "SSIM"])
    torch.testing.assert_close(out["MS_SSIM"], torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(out["SSIM"], torch.tensor([2.0], dtype=torch.float64))


def test_fmi_identical_windows_score_one() -> None:
    x = _smooth(5, size=(12, 10))
    torch.testing.assert_close(compute_metrics(x, x, x, ["FMI_pixel"])["FMI_pixel"], torch.ones(1).double())


@pytest.mark.parametrize("size", [(5, 6), (140, 130)])  # one chunk of windows, and several
def test_fmi_constant_windows_follow_matlab(size) -> None:
    """Two constant windows: MATLAB's running sums make their pdf correlation 1, hence FMI 1 (not 0)."""
    f, a, b = (torch.full((1, 1, *size), v, dtype=torch.float64) for v in (9.0, 11.0, 7.0))
    torch.testing.assert_close(compute_metrics(f, a, b, ["FMI_pixel"])["FMI_pixel"], torch.ones(1).double())


def test_to_metric_range_rounds_like_an_8bit_png() -> None:
    x = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1, 100.4 / 255, 100.6 / 255])
    out = to_metric_range(x)
    assert out.dtype == torch.float64
    assert out.tolist() == [0.0, 128.0, 255.0, 255.0, 0.0, 100.0, 101.0]


def test_reference_metrics() -> None:
    t = _smooth(6)
    noisy = (t + 10 * (torch.arange(t.numel()).view_as(t) % 2 * 2 - 1)).clamp(0, 255)
    out = compute_reference_metrics(noisy, t)
    assert set(out) == {"PSNR_gt", "SSIM_gt"}
    mse = ((noisy - t) ** 2).mean()
    torch.testing.assert_close(out["PSNR_gt"], (10 * torch.log10(255**2 / mse)).view(1))
    assert 0 < out["SSIM_gt"].item() < 1
    with pytest.warns(RuntimeWarning, match="PSNR_gt is undefined"):  # zero error: infinite PSNR
        same = compute_reference_metrics(t, t)
    assert torch.isnan(same["PSNR_gt"]).all()
    torch.testing.assert_close(same["SSIM_gt"], torch.ones(1, dtype=torch.float64))


@pytest.mark.parametrize("size", [(2, 2), (5, 7), (20, 23)])
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_tiny_images_give_nan_never_crash(size, convention) -> None:
    """Windowed metrics on images smaller than their window are undefined (NaN), like MATLAB's empty 'valid'."""
    g = torch.Generator().manual_seed(7)
    f, a, b = (torch.randint(0, 256, (1, 1, *size), generator=g).double() for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = compute_metrics(f, a, b, list(METRICS), convention)
    assert all(v.shape == (1,) and not torch.isinf(v).any() for v in out.values())
    assert torch.isfinite(out["EN"]).all() and torch.isfinite(out["Qabf"]).all()
    assert torch.isnan(out["MS_SSIM"]).all() and torch.isnan(out["VIFF"]).all()

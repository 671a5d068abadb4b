"""The fields' own metrics (MEF-SSIM, Qy, Qc, Piella's family, CE, EI, RMSE, Qp) and the ``vifb`` convention:
invariants, exact constant windows, closed forms against literal per-window loops, convention relations."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from fusionlab.metrics import METRICS, build_metric_collection, compute_metrics, phase
from fusionlab.metrics.mef_ssim import _mef_ssim_level, mef_ssim_levels

MORE = "MEF_SSIM MEF_MSSSIM Qy Qc Qs Qw Qe Qw_mefb CE EI RMSE RMSE_vifb Qp".split()


def _smooth(seed: int, size: tuple[int, int] = (64, 72), batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(torch.rand(batch, 1, size[0] + 6, size[1] + 6, generator=g, dtype=torch.float64), 7, stride=1)
    lo, hi = x.amin(dim=(-2, -1), keepdim=True), x.amax(dim=(-2, -1), keepdim=True)
    return torch.round((x - lo) / (hi - lo) * 255)


def _with_flat_areas(seed: int) -> torch.Tensor:
    """Texture with a saturated block and a block at a value that is no power of two (rounding noise there)."""
    x = _smooth(seed)
    x[..., 5:30, 8:40] = 255.0
    x[..., 35:60, 30:70] = 77.0
    return x


def test_identical_images_score_perfect() -> None:
    x = _with_flat_areas(1)
    out = compute_metrics(x, x, x, MORE)
    for name in ("Qy", "Qc", "Qs", "Qw", "Qe", "Qw_mefb"):
        assert out[name].item() == pytest.approx(1.0, abs=1e-12), name
    for name in ("CE", "RMSE", "RMSE_vifb"):
        assert out[name].item() == 0.0, name
    for name in ("MEF_SSIM", "MEF_MSSSIM"):  # 1 - O(1e-10): the +0.001 in the signal strength
        assert 1 - 1e-8 < out[name].item() < 1.0, name
    assert 0.5 < out["Qp"].item() < 1.0  # source maps are masked at PC > 0.1, F's is not


def test_constant_windows_are_exact() -> None:
    """Flat areas give the exact-arithmetic values: the plain E[xy] - E[x]E[y] noise would decide Qy/Qc there."""
    a, b = _with_flat_areas(2), _with_flat_areas(3)
    f = torch.maximum(a, b)
    base = compute_metrics(f, a, b, ["Qy", "Qc"])
    for shift in (1e-9, -1e-9):  # a perturbation far below the rounding noise of the plain formula
        moved = compute_metrics(f + shift, a, b, ["Qy", "Qc"])
        for name in ("Qy", "Qc"):
            assert moved[name].item() == pytest.approx(base[name].item(), abs=1e-6), name
    # Where A is constant and F = B, sim = 0 exactly and q = SSIM(B, F) = 1 (not 0 from a negative noise).
    flat_a = torch.full_like(a, 77.0)
    assert compute_metrics(b, flat_a, b, ["Qc"])["Qc"].item() == pytest.approx(1.0, abs=1e-12)


def test_mef_ssim_closed_form_matches_the_window_loop() -> None:
    """The authors' per-window loop of mef_ssim.m, written literally on a small crop, against the closed form."""
    a, b = _smooth(4, (16, 17)), _smooth(5, (16, 17))
    a[..., :12, :12] = 90.0  # one source constant on some windows
    f = torch.floor((a + b) / 2 + 0.5)
    eps = torch.finfo(torch.float64).eps
    g = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5**2))
    window = torch.outer(g, g) / torch.outer(g, g).sum()
    q = []
    for i in range(16 - 10):
        for j in range(17 - 10):
            blocks = [x[0, 0, i : i + 11, j : j + 11] for x in (a, b)]
            mu = [blk.mean() for blk in blocks]
            ed = [torch.sqrt(torch.clamp(((blk - m) ** 2).sum(), min=0)) + 0.001 for blk, m in zip(blocks, mu)]
            total = blocks[0] + blocks[1]
            r = (torch.linalg.norm(total - total.mean()) + eps) / (sum(e - 0.001 for e in ed) + eps)
            r = 1 - eps if r > 1 else r
            p = min(math.tan(math.pi / 2 * float(r)), 10.0)
            w = [(e / 11) ** p + eps for e in ed]
            w = [x / sum(w) for x in w]
            rblk = sum(wk * (blk - m) / e for wk, blk, m, e in zip(w, blocks, mu, ed))
            if torch.linalg.norm(rblk) > 0:
                rblk = rblk / torch.linalg.norm(rblk) * max(ed)
            fblk = f[0, 0, i : i + 11, j : j + 11]
            m1, m2 = (window * rblk).sum(), (window * fblk).sum()
            s1, s2 = (window * (rblk - m1) ** 2).sum(), (window * (fblk - m2) ** 2).sum()
            s12 = (window * (rblk - m1) * (fblk - m2)).sum()
            c = (0.03 * 255) ** 2
            q.append((2 * s12 + c) / (s1 + s2 + c))
    expected = torch.stack(q).mean()
    torch.testing.assert_close(_mef_ssim_level(f, a, b)[0], expected, rtol=1e-7, atol=0)


def test_mef_ssim_mirrored_sources_have_no_desired_structure() -> None:
    """a = c - b: R = 0, equal weights, so the desired patch is exactly 0 and q = C / (var_g(f) + C) everywhere."""
    b = _smooth(16, (30, 33))
    a = 255 - b
    f = torch.maximum(a, b)
    g = torch.exp(-(torch.arange(11, dtype=torch.float64) - 5) ** 2 / (2 * 1.5**2))
    window = (torch.outer(g, g) / torch.outer(g, g).sum()).view(1, 1, 11, 11)
    mean = F.conv2d(f, window)
    var_f = F.conv2d(f * f, window) - mean * mean
    c = (0.03 * 255) ** 2
    expected = (c / (var_f + c)).mean()
    torch.testing.assert_close(_mef_ssim_level(f, a, b)[0], expected, rtol=1e-9, atol=0)


def test_mef_msssim_is_the_weighted_product_of_levels() -> None:
    a, b = _smooth(6, (90, 101)), _smooth(7, (90, 101))
    f = torch.maximum(a, b)
    out = compute_metrics(f, a, b, ["MEF_SSIM", "MEF_MSSSIM"])
    levels = mef_ssim_levels(f, a, b)
    w = torch.tensor([0.0448, 0.2856, 0.3001], dtype=torch.float64)
    expected = torch.prod(torch.stack(levels).view(-1) ** (w / w.sum()))
    torch.testing.assert_close(out["MEF_MSSSIM"][0], expected)
    torch.testing.assert_close(out["MEF_SSIM"], levels[0])
    with pytest.warns(RuntimeWarning, match="MEF_MSSSIM"):  # min(H, W) / 4 < 11
        small = compute_metrics(f[..., :40, :40], a[..., :40, :40], b[..., :40, :40], ["MEF_MSSSIM"])
    assert math.isnan(small["MEF_MSSSIM"].item())


def test_families_equal_single_metrics_and_batches() -> None:
    a, b = _smooth(8, batch=2), _smooth(9, batch=2)
    f = torch.floor((a + b) / 2 + 0.5)
    together = compute_metrics(f, a, b, MORE)
    for name in MORE:
        alone = compute_metrics(f, a, b, [name])[name]
        torch.testing.assert_close(alone, together[name], rtol=1e-12, atol=0, msg=name)
        first = compute_metrics(f[:1], a[:1], b[:1], [name])[name]
        torch.testing.assert_close(first[0], together[name][0], rtol=1e-12, atol=0, msg=name)
    torch.testing.assert_close(together["Qe"], together["Qw"] * together["Qw_mefb"])
    h, w = f.shape[-2:]
    torch.testing.assert_close(together["RMSE_vifb"], together["RMSE"] / math.sqrt(h * w))


def test_symmetry_and_directions() -> None:
    a, b = _smooth(10), _smooth(11)
    f = torch.floor((a + b) / 2 + 0.5)
    ab, ba = compute_metrics(f, a, b, MORE), compute_metrics(f, b, a, MORE)
    for name in MORE:
        if name != "Qc":  # Qc: q := 0 where sim < 0 but 1 where sim > 1, which swapping the sources exchanges
            torch.testing.assert_close(ab[name], ba[name], rtol=1e-10, atol=1e-12, msg=name)
    blurred = F.avg_pool2d(F.pad(f, (2, 2, 2, 2), mode="replicate"), 5, stride=1).round()
    worse = compute_metrics(blurred, a, b, MORE)
    for name in ("MEF_SSIM", "Qy", "Qs", "Qw", "Qe", "Qp", "EI"):
        assert worse[name].item() < ab[name].item(), name
    assert METRICS["CE"].higher_is_better is False and METRICS["Qp"].higher_is_better is True


def test_metrics_run_in_a_torchmetrics_collection() -> None:
    a, b = _smooth(12, batch=3), _smooth(13, batch=3)
    f = torch.maximum(a, b)
    coll = build_metric_collection(MORE, prefix="test/")
    coll.update(f[:2], a[:2], b[:2])
    coll.update(f[2:], a[2:], b[2:])
    out = coll.compute()
    expected = compute_metrics(f, a, b, MORE)
    for name in MORE:
        torch.testing.assert_close(out[f"test/{name}"], expected[name].mean(), rtol=1e-12, atol=0, msg=name)


def test_vifb_convention_relations() -> None:
    a, b = _smooth(14), _smooth(15)
    f = a.clone()  # spans 0..255 like the sources: VIFB's min-max stretch is then a no-op
    names = ["EN", "SF", "AG", "MI", "SSIM", "PSNR", "MSE", "Qabf"]
    c, t, v = (compute_metrics(f, a, b, names, conv) for conv in ("cddfuse", "tang", "vifb"))
    h, w = f.shape[-2:]
    dx, dy = f[..., :, 1:] - f[..., :, :-1], f[..., 1:, :] - f[..., :-1, :]
    torch.testing.assert_close(v["SF"], torch.sqrt(((dx**2).sum() + (dy**2).sum()) / (h * w)).view(1))
    torch.testing.assert_close(v["AG"], t["AG"])
    torch.testing.assert_close(v["MI"], c["MI"])
    rmse_vifb = compute_metrics(f, a, b, ["RMSE_vifb"])["RMSE_vifb"]
    torch.testing.assert_close(v["PSNR"], 20 * torch.log10(255 / torch.sqrt(rmse_vifb)))
    torch.testing.assert_close(v["MSE"], c["MSE"])
    for name in ("EN", "Qabf"):
        torch.testing.assert_close(v[name], c[name])
    same = compute_metrics(a, a, a, ["SSIM"], "vifb")["SSIM"]
    torch.testing.assert_close(same, torch.tensor([2.0], dtype=torch.float64))
    # The stretch matters for images that do not span 0..255: MI(x, F) is then that of the stretched images.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        squeezed = compute_metrics(f / 2, a / 2, b, ["MI"], "vifb")["MI"]
    torch.testing.assert_close(squeezed, compute_metrics(f, a, b, ["MI"], "vifb")["MI"])


@pytest.mark.parametrize("n", [1, 2, 7, 4096, 20001, 30000])
def test_qp_noise_median_is_matlab_median(n: int) -> None:
    """Q_P's bracketed median equals the mean of the two middle values: continuous, tied and skewed rows, and a
    row whose strided sample misses the middle (the full selection then decides)."""
    g = torch.Generator().manual_seed(n)
    rows = [
        torch.rand(n, generator=g),
        torch.randint(0, 4, (n,), generator=g).float(),  # ties at the middle
        torch.rand(n, generator=g) ** 12,  # most values near 0, as |EO|^2
        # the strided sample sees only 1s, the row is mostly 0s
        torch.zeros(n).index_fill_(0, torch.arange(0, n, phase._MEDIAN_SAMPLE_STEP), 1.0),
    ]
    x = torch.stack(rows)
    ordered = x.sort(dim=-1).values
    expected = (ordered[:, (n - 1) // 2] + ordered[:, n // 2]) / 2
    assert torch.equal(phase._matlab_median(x), expected)

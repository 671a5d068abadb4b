"""Classical baselines: the model contract, exact pixel rules, fixed points, and real fusion quality."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fusionlab.baselines import BASELINES, build_baseline
from fusionlab.data.io import luma_u8, read_image
from fusionlab.metrics import compute_metrics, to_metric_range

# Three real pairs of different tasks (infrared-visible, medical, multi-focus), small enough for CI, relative to
# the `data_dir` fixture (tests/conftest.py: skipped where the shared data is absent).
REAL_PAIRS = [
    ("roadscene/cropinfrared/FLIR_video_00727.jpg", "roadscene/crop_LR_visible/FLIR_video_00727.jpg"),
    ("harvard/CT-MRI/MRI/2005.png", "harvard/CT-MRI/CT/2005.png"),
    ("lytro/lytro-01-A.jpg", "lytro/lytro-01-B.jpg"),
]


def _pair(seed: int, h: int, w: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = F.avg_pool2d(torch.rand(batch, 1, h + 4, w + 4, generator=g), 5, 1)
    b = torch.rand(batch, 1, h, w, generator=g)
    return a, b


def _load(root: Path, rel: str) -> torch.Tensor:
    path = root / rel
    if not path.is_file():
        raise FileNotFoundError(f"shared data missing: {path}")
    y = luma_u8(read_image(path)) / 255.0
    return torch.from_numpy(y).float().view(1, 1, *y.shape)


@pytest.mark.parametrize("name", list(BASELINES))
@pytest.mark.parametrize("size", [(37, 53), (64, 64), (5, 9), (1, 1)])
def test_shape_range_and_contract(name: str, size: tuple[int, int]) -> None:
    model = build_baseline(name)
    a, b = _pair(0, *size)
    out = model(a, b)
    assert out.shape == a.shape and out.dtype == a.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert model.size_multiple == 1
    assert sum(p.numel() for p in model.parameters()) == 0


@pytest.mark.parametrize("name", list(BASELINES))
def test_fixed_point_on_identical_inputs(name: str) -> None:
    x, _ = _pair(1, 61, 47)
    torch.testing.assert_close(build_baseline(name)(x, x), x, rtol=0, atol=1e-5)


def test_average_and_max_are_exact() -> None:
    a, b = _pair(2, 33, 35)
    assert torch.equal(build_baseline("average")(a, b), (a + b) / 2)
    assert torch.equal(build_baseline("max")(a, b), torch.maximum(a, b))


def test_registry_and_errors() -> None:
    assert set(BASELINES) == {"average", "max", "laplacian", "wavelet", "gff", "mertens"}
    with pytest.raises(KeyError, match="available: average, max"):
        build_baseline("dwt")
    with pytest.raises(ValueError, match="same shape"):
        build_baseline("gff")(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))


def test_batch_items_are_independent() -> None:
    a, b = _pair(3, 40, 41, batch=3)
    for name in BASELINES:
        model = build_baseline(name)
        whole = model(a, b)
        torch.testing.assert_close(whole[1:2], model(a[1:2], b[1:2]), rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("pair", REAL_PAIRS, ids=lambda p: p[0].split("/")[0])
def test_multiscale_rules_beat_average_on_real_pairs(pair: tuple[str, str], data_dir: Path) -> None:
    """The point of the multi-scale rules: keep each source's edges, which averaging halves."""
    a, b = _load(data_dir, pair[0]), _load(data_dir, pair[1])
    ref = {}
    for name in ("average", "laplacian", "wavelet", "gff"):
        fused = build_baseline(name)(a, b)
        ref[name] = compute_metrics(*(to_metric_range(x) for x in (fused, a, b)), ["Qabf", "SF"])
    for name in ("laplacian", "wavelet", "gff"):
        better = [m for m in ("Qabf", "SF") if ref[name][m].item() > ref["average"][m].item()]
        assert better, f"{name} does not beat average on Qabf or SF for {pair[0]}: {ref}"
    # GFF and the Laplacian pyramid should win on both.
    for name in ("laplacian", "gff"):
        assert ref[name]["Qabf"].item() > ref["average"]["Qabf"].item(), name
        assert ref[name]["SF"].item() > ref["average"]["SF"].item(), name


def test_box_mean_matches_brute_force() -> None:
    from fusionlab.baselines._filters import box_mean

    x = torch.rand(2, 1, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    r = 3
    expected = torch.empty_like(x)
    for i in range(7):
        for j in range(9):
            window = x[..., max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1]
            expected[..., i, j] = window.mean(dim=(-2, -1))
    torch.testing.assert_close(box_mean(x, r), expected, rtol=0, atol=1e-14)
    # A window larger than the image is the image mean everywhere.
    torch.testing.assert_close(box_mean(x, 45), x.mean(dim=(-2, -1), keepdim=True).expand_as(x))

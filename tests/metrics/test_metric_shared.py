"""The shared intermediates of one ``compute_metrics`` call: sharing never changes a value.

Each metric is computed three ways: all metrics in one call (intermediates shared), the metric alone through
``compute_metrics`` (a private cache), and its function called directly without a cache. The three must be
bit-identical. The fast paths (exact float32 Sobel and window sums) are checked against the float64 code
they replace.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from fusionlab.metrics import CONVENTIONS, METRICS, compute_metrics
from fusionlab.metrics._ops import correlate3x3
from fusionlab.metrics.shared import Intermediates, histogram, sobel3x3
from fusionlab.metrics.ssim import ssim_skimage, ssim_skimage_exact

SLOW = ("FMI_pixel", "Qp")
NAMES = [n for n in METRICS if n not in SLOW]


def _textured(seed: int, size: tuple[int, int] = (170, 180), batch: int = 2) -> torch.Tensor:
    """8-bit images with texture, flat areas (a black band) and saturated pixels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, size[0] + 4, size[1] + 4, generator=g, dtype=torch.float64)
    x = F.avg_pool2d(x, 5, stride=1)
    x = torch.round((x - x.amin()) / (x.amax() - x.amin()) * 300).clamp(0, 255)
    x[..., 20:40, :] = 0.0
    return x


@pytest.fixture(scope="module")
def triple() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b = _textured(1), _textured(2)
    return torch.floor((a + b) / 2 + 0.5), a, b


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_shared_equals_alone_equals_direct(triple, convention: str) -> None:
    f, a, b = triple
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        together = compute_metrics(f, a, b, NAMES, convention)
        for name in NAMES:
            alone = compute_metrics(f, a, b, [name], convention)[name]
            direct = METRICS[name].fn(f, a, b, convention).to(torch.float64)
            torch.testing.assert_close(together[name], alone, rtol=0, atol=0, equal_nan=True, msg=name)
            torch.testing.assert_close(alone, direct, rtol=0, atol=0, equal_nan=True, msg=name)


def test_intermediates_are_built_once(triple) -> None:
    cache = Intermediates(*triple)
    calls = []
    first = cache.get("k", lambda: calls.append(1) or torch.ones(1))
    assert cache.get("k", lambda: calls.append(1) or torch.zeros(1)) is first and calls == [1]
    assert cache.histogram("f") is cache.histogram("f")
    assert cache.sobel("a", "zeros") is cache.sobel("a", "zeros")
    assert cache.sobel("a", "zeros") is not cache.sobel("a", "reflect")


def test_histogram_counts_each_image(triple) -> None:
    f = triple[0]
    counts = Intermediates(*triple).histogram("f")
    assert counts.shape == (2, 256) and counts.dtype == torch.float64
    for i in range(2):
        expected = torch.bincount(f[i].flatten().long(), minlength=256).to(torch.float64)
        torch.testing.assert_close(counts[i], expected, rtol=0, atol=0)
    torch.testing.assert_close(histogram(torch.tensor([[0, 1, 1]]), 3), torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64))


@pytest.mark.parametrize("padding", ["zeros", "reflect", "replicate"])
def test_float32_sobel_is_the_exact_float64_correlation(triple, padding: str) -> None:
    x = triple[1]
    gx, gy = sobel3x3(x.to(torch.float32), padding)
    kx = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    ky = [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]
    torch.testing.assert_close(gx.double(), correlate3x3(x, kx, padding), rtol=0, atol=0)
    torch.testing.assert_close(gy.double(), correlate3x3(x, ky, padding), rtol=0, atol=0)


def test_exact_window_sums_match_float64_ssim(triple) -> None:
    f, a, b = triple
    cache = Intermediates(f, a, b)
    assert cache.integral
    # The sums are exact; only the float32 products of the final fraction round (~1e-8 on the mean).
    torch.testing.assert_close(ssim_skimage_exact(cache), ssim_skimage(f, torch.cat([a, b])), rtol=1e-7, atol=0)


def test_non_integer_images_take_the_float64_path(triple) -> None:
    f, a, b = triple
    f = f + 0.25
    assert not Intermediates(f, a, b).integral
    expected = ssim_skimage(f, torch.cat([a, b]))
    torch.testing.assert_close(compute_metrics(f, a, b, ["SSIM"])["SSIM"], expected[:2] + expected[2:])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 11])
def test_constant_windows_match_the_definition(size):
    """Summed-area counting of neighbour differences = 'max == min over the window', on images with many flat
    patches (few grey levels) and odd shapes."""
    from fusionlab.metrics._ops import constant_windows

    torch.manual_seed(size)
    x = torch.round(torch.rand(3, 1, 23, 17, dtype=torch.float64) * 2)
    x[:, :, 2:14, 3:15] = 1.0
    windows = x.unfold(2, size, 1).unfold(3, size, 1)
    want = windows.amax((-1, -2)) == windows.amin((-1, -2))
    got = constant_windows(x, size)
    assert got.shape == want.shape and torch.equal(got, want)
    assert want.all() if size == 1 else want.any() and not want.all()


def test_source_cache_across_fused_images_changes_no_value(triple) -> None:
    """Several fused images of one pair scored with one SourceCache: every metric (Qp and the source-heavy VIF,
    Qcb, Qcv, Qabf included) equals its value without the cache, bit for bit, and the sources' work is kept."""
    from fusionlab.metrics import SourceCache

    _, a, b = triple
    names = [n for n in METRICS if n != "FMI_pixel"]  # FMI has no source-only part; Qp is the one that gains most
    fused = [torch.floor((a + b) / 2 + 0.5), torch.maximum(a, b), torch.round(0.8 * a + 0.2 * b)]
    sources = SourceCache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in fused:
            shared = compute_metrics(f, a, b, names, sources=sources)
            alone = compute_metrics(f, a, b, names)
            for name in names:
                torch.testing.assert_close(shared[name], alone[name], rtol=0, atol=0, equal_nan=True, msg=name)
    kept = ("qp_sources", "vif_scales", "qcb_contrast", "qcv_saliency", ("hist", "a"), ("sobel", "b", "zeros"),
            ("mef", 0), ("mef", 2), "prewitt")
    for key in kept:
        assert key in sources.store, key
    moments = [k for k in sources.store if isinstance(k, tuple) and k[0] == "local_moments"]
    assert len(moments) == 3  # Yang's 7x7, Piella's 11x11 on the images and on their edges


def test_source_cache_refuses_other_sources(triple) -> None:
    from fusionlab.metrics import SourceCache

    f, a, b = triple
    sources = SourceCache()
    compute_metrics(f, a, b, ["EN", "MI"], sources=sources)
    compute_metrics(f.clone(), a.clone(), b.clone(), ["MI"], sources=sources)  # equal images are the same pair
    with pytest.raises(ValueError, match="SourceCache was reused with different source images"):
        compute_metrics(f, b, a, ["MI"], sources=sources)


def test_docs_metrics_examples_run(triple) -> None:
    """The Python examples of docs/metrics.md run as written, and the SourceCache one gives the plain values."""
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert len(blocks) == 2
    f, a, b = triple
    fused = {"average": f, "max": torch.maximum(a, b)}
    namespace = {"f": f, "a": a, "b": b, "fused_by_method": fused}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for block in blocks:
            exec(compile(block, str(doc), "exec"), namespace)  # noqa: S102 - our own documentation
        for method, values in namespace["rows"].items():
            plain = compute_metrics(fused[method], a, b, namespace["names"])
            for name, v in values.items():
                torch.testing.assert_close(v, plain[name], rtol=0, atol=0, equal_nan=True, msg=f"{method} {name}")

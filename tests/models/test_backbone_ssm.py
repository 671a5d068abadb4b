"""The selective scan: the blocked PyTorch scan equals the sequential reference (forward and gradients, float32,
<= 1e-5) for any chunking; SS2D's cross-scan/merge put every direction back in place; the CUDA flag falls back."""

from __future__ import annotations

import pytest
import torch

from fusionlab.models.backbones.selective_scan import (
    auto_chunk,
    selective_scan,
    selective_scan_blocked,
    selective_scan_ref,
)
from fusionlab.models.backbones.ssm import SS2D, cross_merge, cross_scan


def _inputs(
    groups: int | None, gate: bool, length: int = 37, d: int = 8, n: int = 4
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    b = 2
    bc_shape = (b, n, length) if groups is None else (b, groups, n, length)
    t = {
        "u": torch.randn(b, d, length, generator=g),
        "delta": torch.randn(b, d, length, generator=g),
        "A": -(torch.rand(d, n, generator=g) * 4 + 0.5),
        "B": torch.randn(*bc_shape, generator=g),
        "C": torch.randn(*bc_shape, generator=g),
        "D": torch.randn(d, generator=g),
        "delta_bias": torch.randn(d, generator=g),
    }
    if gate:
        t["z"] = torch.randn(b, d, length, generator=g)
    return {k: v.requires_grad_() for k, v in t.items()}


def _run(fn, t: dict[str, torch.Tensor], **kw) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    y = fn(**t, delta_softplus=True, **kw)
    weights = torch.linspace(-1, 1, y.shape[-1])  # a non-uniform upstream gradient
    return y, torch.autograd.grad((y * weights).sum(), list(t.values()))


@pytest.mark.parametrize(("groups", "gate"), [(None, False), (2, True), (8, True)])
@pytest.mark.parametrize("chunk", [1, 5, 8, 37, 64, None])
def test_blocked_scan_equals_sequential_reference(groups, gate, chunk):
    t = _inputs(groups, gate)
    y_ref, g_ref = _run(selective_scan_ref, t)
    y, g = _run(selective_scan_blocked, t, chunk_size=chunk)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    for name, a, b in zip(t, g, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=f"gradient of {name}")


def test_long_sequences_stay_finite():
    """Decays are exp of non-positive numbers only: large delta*|A| over long chunks cannot overflow."""
    t = _inputs(None, False, length=300)
    with torch.no_grad():
        t["delta"].fill_(5.0)
        y_ref = selective_scan_ref(**t)
        y = selective_scan_blocked(**t, chunk_size=300)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)


def test_dispatch_falls_back_to_pytorch_off_cuda():
    t = {k: v.detach() for k, v in _inputs(2, True).items()}
    y = selective_scan(**t, delta_softplus=True, use_cuda_kernel=True)  # CPU tensors: the PyTorch scan
    torch.testing.assert_close(y, selective_scan_ref(**t, delta_softplus=True), atol=1e-5, rtol=1e-5)


def test_auto_chunk_covers_the_sequence():
    for length in (1, 7, 64, 4096, 19200):
        for width in (1, 1024, 1 << 20):
            T = auto_chunk(length, width)
            assert 1 <= T <= length and -(-length // T) <= max(1, int(length**0.5))


def test_cross_scan_and_merge_invert_each_direction():
    x = torch.randn(2, 3, 5, 7)
    xs = cross_scan(x)
    assert xs.shape == (2, 4, 3, 35)
    assert torch.equal(cross_merge(xs, 5, 7), 4 * x)  # each direction, undone, gives x back


def test_ss2d_runs_under_bf16_autocast():
    m = SS2D(8, d_state=2)
    x = torch.randn(1, 8, 12, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.shape == x.shape and torch.isfinite(y.float()).all()

"""Mamba's selective scan (S6) in plain PyTorch, plus the optional ``mamba_ssm`` CUDA kernel.

The recurrence, per channel ``d`` and state ``n`` (diagonal ``A``, zero-order hold with Mamba's simplified
``B_bar = delta * B``)::

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t = <C_t, h_t> + D * u_t            (then y_t * silu(z_t) when a gate z is given)

Two PyTorch implementations compute it:

* :func:`selective_scan_ref` - one Python step per position; the obviously correct reference for tests.
* :func:`selective_scan_blocked` - a two-level blocked scan: the sequence is cut into chunks of length T, all
  chunks are scanned at once (T vectorised steps), then the chunk-boundary states are carried across chunks
  (L/T small steps) and added back through in-chunk cumulative decays. With T ~ sqrt(L) that is ~2 sqrt(L)
  Python steps instead of L, and every decay factor is ``exp`` of a non-positive number, so nothing overflows
  (the factorised ``exp(S_t) * cumsum(exp(-S_s) x_s)`` trick does, for long chunks or large ``delta * |A|``).

Both share the signature of ``mamba_ssm``'s ``selective_scan_fn`` so that :func:`selective_scan` can hand CUDA
tensors to the fused kernel when it is installed and asked for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError


@functools.cache
def mamba_kernel() -> Callable | None:
    """``mamba_ssm``'s fused CUDA scan, or None when the package (or its compiled extension) is missing."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or an extension built for another torch/CUDA: fall back to PyTorch
        return None
    return selective_scan_fn


def _expand_groups(m: Tensor, d: int) -> Tensor:
    """B or C as ``(b, n, l)`` (shared by all channels) or ``(b, g, n, l)`` (g groups of d/g channels) ->
    a view broadcastable to ``(b, d, n, l)``."""
    if m.dim() == 3:
        return m.unsqueeze(1)
    b, g, n, length = m.shape
    if d % g:
        raise ConfigError(f"selective scan: {d} channels cannot be split into {g} groups of B/C")
    return m.unsqueeze(2).expand(b, g, d // g, n, length).reshape(b, d, n, length)


def _discretise(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, delta_bias: Tensor | None, delta_softplus: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Returns (delta, log-decay delta*A as (b, d, n, l), input term delta*B*u as (b, d, n, l)), in float32."""
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    d = u.shape[1]
    log_decay = delta.unsqueeze(2) * A.float().unsqueeze(-1)  # (b, d, n, l), <= 0 for A <= 0
    x = (delta * u.float()).unsqueeze(2) * _expand_groups(B.float(), d)
    return delta, log_decay, x


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    if D is not None:
        y = y + u.float() * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(u.dtype)


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Sequential reference. u, delta, z: (b, d, l); A: (d, n); B, C: (b, n, l) or (b, g, n, l); D, delta_bias: (d,)."""
    _, log_decay, x = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    decay = log_decay.exp()
    c = _expand_groups(C.float(), u.shape[1])
    h = torch.zeros_like(x[..., 0])
    ys = []
    for a_t, x_t, c_t in zip(decay.unbind(-1), x.unbind(-1), c.unbind(-1)):
        h = torch.addcmul(x_t, a_t, h)
        ys.append((h * c_t).sum(-1))
    return _finish(torch.stack(ys, -1), u, D, z)


def auto_chunk(length: int, width: int = 1, max_slice: int = 1 << 16) -> int:
    """Chunk length T for a sequence of ``length`` steps whose state has ``width`` (= b*d*n) elements.

    The in-chunk loop runs T steps on slices of width * (L/T) elements, the carry loop L/T steps on slices of
    width elements: T ~ sqrt(L) balances the step counts, but on CPU a loop step over a slice larger than a few
    hundred KiB costs mostly fresh-allocation page faults, so the chunk count is capped to keep slices small.
    """
    length = max(length, 1)
    chunks = min(math.isqrt(length), max(1, max_slice // max(width, 1)))
    return -(-length // max(chunks, 1))


def _to_chunks(t: Tensor, T: int) -> Tensor:
    """(b, ..., l) -> contiguous (T, nc, b, ...), zero-padded to a whole number of chunks."""
    pad = (-t.shape[-1]) % T
    if pad:
        t = F.pad(t, (0, pad))
    t = t.unflatten(-1, (-1, T))
    return t.permute(t.dim() - 1, t.dim() - 2, *range(t.dim() - 2)).contiguous()


def selective_scan_blocked(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Blocked scan, same contract as :func:`selective_scan_ref`; ``chunk_size`` None picks :func:`auto_chunk`."""
    b, d, length = u.shape
    T = chunk_size or auto_chunk(length, b * d * A.shape[-1])
    dt = delta.float()
    if delta_bias is not None:
        dt = dt + delta_bias.float()[:, None]
    if delta_softplus:
        dt = F.softplus(dt)
    # Everything is laid out (T, nc, b, d, n), time-in-chunk first, so that each loop step below reads a
    # contiguous slice. A padded step has delta 0: decay exp(0) = 1 and no input, states pass through.
    dt_c = _to_chunks(dt, T)  # (T, nc, b, d)
    du_c = _to_chunks(dt * u.float(), T)
    log_decay = dt_c.unsqueeze(-1) * A.float()  # (T, nc, b, d, n), <= 0
    decay = log_decay.exp()
    # B, C stay grouped, (T, nc, b, g, 1, n), and broadcast over the d/g channels of each group
    g = 1 if B.dim() == 3 else B.shape[1]
    if d % g:
        raise ConfigError(f"selective scan: {d} channels cannot be split into {g} groups of B/C")
    b_c, c_c = (_to_chunks(m.float().reshape(b, g, *m.shape[-2:]), T).unsqueeze(-2) for m in (B, C))
    grouped = (*dt_c.shape[:3], g, d // g, A.shape[-1])
    x = (du_c.view(*grouped[:-1], 1) * b_c).flatten(3, 4)

    # 1) every chunk scanned from a zero state, all chunks at once. unbind rather than index in the loop:
    # one backward node for all slices instead of a full-size zero gradient per step (quadratic backward)
    h = torch.zeros_like(x[0])
    local = []
    for a_t, x_t in zip(decay.unbind(0), x.unbind(0)):
        h = torch.addcmul(x_t, a_t, h)
        local.append(h)
    local_h = torch.stack(local)  # (T, nc, b, d, n)

    # 2) carry the state across chunk boundaries; carries[k] is the state entering chunk k
    within = log_decay.cumsum(0).exp()  # decay from a chunk's start to step t, inclusive (all <= 1)
    state = torch.zeros_like(x[0, 0])
    carries = []
    for a_k, h_k in zip(within[-1].unbind(0), local_h[-1].unbind(0)):
        carries.append(state)
        state = torch.addcmul(h_k, a_k, state)
    carry = torch.stack(carries)  # (nc, b, d, n)

    # 3) full state = local state + decayed carry; contract with C
    y = ((local_h + within * carry).view(grouped) * c_c).sum(-1).flatten(3)  # (T, nc, b, d)
    y = y.permute(2, 3, 1, 0).reshape(b, d, -1)[..., :length]
    return _finish(y, u, D, z)


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    chunk_size: int | None = None,
    use_cuda_kernel: bool = False,
) -> Tensor:
    """Dispatch: the ``mamba_ssm`` kernel when asked for, importable and the tensors are on CUDA; else blocked."""
    if use_cuda_kernel and u.is_cuda and (kernel := mamba_kernel()) is not None:
        return kernel(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return selective_scan_blocked(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size)

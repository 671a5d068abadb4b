"""FMI_pixel: Haghighat and Razian's fast feature mutual information on raw pixels (``fmi(..., 'none', 3)``).

Every 3x3 window is min-max normalised and read as a pdf over its 9 positions in MATLAB's column-major order;
the joint pdf of a source and the fused window mixes the Frechet bound (upper for positive, lower for negative
Pearson correlation of the two pdfs) with independence so that it has that correlation (Nelsen's method).
FMI is the mean over windows of (nMI_AF + nMI_BF) / 2 with nMI = 2 I / (H_S + H_F).

The loops of ``analysis_fmi.m`` become batched 9x9 tensor operations over chunks of windows. One quirk of the
reference is kept: the fused window is normalised in place while scoring A, so the "B window equals F
window" shortcut compares raw B with the *normalised* F unless A's window already equalled F's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# unfold lists a 3x3 window row by row; MATLAB's x(:) reads it column by column.
_COLUMN_MAJOR = [0, 3, 6, 1, 4, 7, 2, 5, 8]
_CHUNK = 4096  # windows per batch: its (chunk, 9, 9) temporaries stay in cache (1.5x faster than 16384)


def _windows(x: Tensor) -> Tensor:
    """(B, 1, H, W) -> (B, (H-2)(W-2), 9) column-major 3x3 windows."""
    return F.unfold(x, 3)[:, _COLUMN_MAJOR].transpose(1, 2)


def _min_max(x: Tensor) -> Tensor:
    hi = x.amax(dim=-1, keepdim=True)
    lo = x.amin(dim=-1, keepdim=True)
    flat = hi == lo
    return torch.where(flat, 1.0, (x - lo) / torch.where(flat, 1.0, hi - lo))


def _plogp(p: Tensor) -> Tensor:
    """p log2 |p| with 0 for p == 0 (MATLAB's ``real(-p log2 p)`` handles the rare negative joint masses)."""
    # log2 of |p| floored at 1e-300 is finite, and 0 * finite = 0: no masks (a |p| under 1e-300 moves the
    # result by < 1e-297).
    return torch.log2(p.abs().clamp_(min=1e-300)).mul_(p)


def _seq_sum(x: Tensor) -> Tensor:
    """Sum over the last dim (9 values) left to right, as MATLAB's ``sum`` and loops do for short vectors.

    The order is not cosmetic: for a constant window the pdf is 1/9 everywhere, MATLAB's running sum is
    1.0000000000000002, so ``pdf - mean(pdf)`` is a constant -1.4e-17 rather than 0 and the Pearson
    correlation of two constant windows comes out 1 (FMI 1), not 0. torch's own reductions round either way
    depending on the batch size.
    """
    total = x[..., 0]
    for k in range(1, x.shape[-1]):
        total = total + x[..., k]
    return total


def _window_sum(x: Tensor) -> Tensor:
    """MATLAB ``sum(sum(w))`` of a 3x3 window stored column-major: column sums first, then their sum."""
    cols = [(x[..., 3 * c] + x[..., 3 * c + 1]) + x[..., 3 * c + 2] for c in range(3)]
    return (cols[0] + cols[1]) + cols[2]


def _nmi(s: Tensor, f: Tensor) -> Tensor:
    """Normalised MI of two batches of normalised windows (N, 9) via the simplified Nelsen joint pdf."""
    sp = s / _window_sum(s)[:, None]
    fp = f / _window_sum(f)[:, None]
    sc, fc = sp.cumsum(-1), fp.cumsum(-1)
    st = sp - (_seq_sum(sp) / 9)[:, None]
    ft = fp - (_seq_sum(fp) / 9)[:, None]
    dot = _seq_sum(st * ft)
    c = torch.where(dot == 0, 0.0, dot / torch.sqrt(_seq_sum(st * st) * _seq_sum(ft * ft)))
    idx = torch.arange(1, 10, dtype=s.dtype, device=s.device)
    sd_s = torch.sqrt(_seq_sum(idx * idx * sp) - _seq_sum(idx * sp) ** 2)
    sd_f = torch.sqrt(_seq_sum(idx * idx * fp) - _seq_sum(idx * fp) ** 2)

    u = fc[:, :, None]  # rows: fused index i
    v = sc[:, None, :]  # columns: source index j
    positive = c >= 0
    pos = positive[:, None, None]
    # Only the bound each window uses: upper = (s - |u - v|) / 2 for c >= 0, lower = (y + |y|) / 2 with
    # y = s - 1 otherwise (the reference's operations, so the values are the same to the bit).
    s_uv = u + v
    y = torch.where(pos, u - v, s_uv - 1)
    ay = y.abs()
    bound = torch.where(pos, s_uv - ay, y.add_(ay)).mul_(0.5)
    indep = u * v
    sd_prod = sd_f * sd_s
    degenerate = (sd_s == 0) | (sd_f == 0)
    ratio = c / ((bound - indep).sum((1, 2)) / sd_prod)
    coef = torch.where(degenerate | (positive & (c == 0)), 0.0, ratio)[:, None, None]
    # Joint masses: 2-D differences of the bound copula, with C(0, .) = C(., 0) = 0.
    padded = F.pad(bound, (1, 0, 1, 0))
    mass = padded[:, 1:, 1:] - padded[:, :-1, 1:] - padded[:, 1:, :-1] + padded[:, :-1, :-1]
    jpdf = coef * mass + (1 - coef) * fp[:, :, None] * sp[:, None, :]
    h_joint = -_plogp(jpdf).sum((1, 2))
    h_s = -_plogp(sp).sum(-1)
    h_f = -_plogp(fp).sum(-1)
    mi = h_s + h_f - h_joint
    return torch.where(mi == 0, 0.0, 2 * mi / (h_s + h_f))


def _scores(src: Tensor, fused_norm: Tensor, equal: Tensor) -> Tensor:
    """nMI per window, 1 where the reference's equality shortcut applies (those windows are skipped)."""
    if not bool(equal.any()):  # the usual case: no gather
        return _nmi(_min_max(src), fused_norm)
    out = torch.ones(src.shape[0], dtype=src.dtype, device=src.device)
    todo = (~equal).nonzero().flatten()
    if todo.numel():
        out[todo] = _nmi(_min_max(src[todo]), fused_norm[todo])
    return out


def fmi_pixel(f: Tensor, a: Tensor, b: Tensor, convention: str = "cddfuse") -> Tensor:
    """Fast-FMI on raw pixels with 3x3 windows (slow: ~9x9 work per pixel); NaN for images under 3x3."""
    if min(f.shape[-2:]) < 3:
        return torch.full((f.shape[0],), float("nan"), dtype=f.dtype, device=f.device)
    out = []
    for i in range(f.shape[0]):
        wa, wb, wf = (_windows(x[i : i + 1])[0] for x in (a, b, f))
        total = torch.zeros((), dtype=f.dtype, device=f.device)
        for start in range(0, wf.shape[0], _CHUNK):
            sa, sb, sf = (w[start : start + _CHUNK] for w in (wa, wb, wf))
            nf = _min_max(sf)
            eq_af = (sa == sf).all(-1)
            eq_bf = torch.where(eq_af, (sb == sf).all(-1), (sb == nf).all(-1))
            total = total + (_scores(sa, nf, eq_af).sum() + _scores(sb, nf, eq_bf).sum()) / 2
        out.append(total / wf.shape[0])
    return torch.stack(out)

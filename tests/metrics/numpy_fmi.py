"""FMI_pixel in plain numpy (the baseline of ``numpy_metrics.py``): Haghighat's fast-FMI, 3x3 raw-pixel windows.

Vectorised over chunks of windows as a numpy programmer would write ``analysis_fmi.m``; float64 throughout.
The reference's quirks are kept (see ``fusionlab.metrics.fmi``): column-major windows, left-to-right sums,
and the fused window normalised in place while scoring A.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_CHUNK = 16384


def _windows(x: np.ndarray) -> np.ndarray:
    """(H, W) -> ((H-2)(W-2), 9) windows, each in MATLAB's column-major order."""
    w = sliding_window_view(x, (3, 3))
    return np.ascontiguousarray(w.transpose(0, 1, 3, 2)).reshape(-1, 9)


def _min_max(x: np.ndarray) -> np.ndarray:
    hi, lo = x.max(-1, keepdims=True), x.min(-1, keepdims=True)
    flat = hi == lo
    return np.where(flat, 1.0, (x - lo) / np.where(flat, 1.0, hi - lo))


def _seq(x: np.ndarray) -> np.ndarray:
    total = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        total += x[..., k]
    return total


def _wsum(x: np.ndarray) -> np.ndarray:
    cols = [(x[:, 3 * c] + x[:, 3 * c + 1]) + x[:, 3 * c + 2] for c in range(3)]
    return (cols[0] + cols[1]) + cols[2]


def _plogp(p: np.ndarray) -> np.ndarray:
    nz = p != 0
    return np.where(nz, p * np.log2(np.where(nz, np.abs(p), 1.0)), 0.0)


def _nmi(s: np.ndarray, f: np.ndarray) -> np.ndarray:
    sp, fp = s / _wsum(s)[:, None], f / _wsum(f)[:, None]
    st, ft = sp - (_seq(sp) / 9)[:, None], fp - (_seq(fp) / 9)[:, None]
    dot = _seq(st * ft)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(dot == 0, 0.0, dot / np.sqrt(_seq(st * st) * _seq(ft * ft)))
    idx = np.arange(1, 10, dtype=np.float64)
    sd_s = np.sqrt(_seq(idx * idx * sp) - _seq(idx * sp) ** 2)
    sd_f = np.sqrt(_seq(idx * idx * fp) - _seq(idx * fp) ** 2)
    u, v = np.cumsum(fp, -1)[:, :, None], np.cumsum(sp, -1)[:, None, :]
    upper = 0.5 * (u + v - np.abs(u - v))
    lower = 0.5 * (u + v - 1 + np.abs(u + v - 1))
    indep = u * v
    sd_prod = sd_f * sd_s
    degenerate = (sd_s == 0) | (sd_f == 0)
    positive = c >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where((c == 0) | degenerate, 0.0, c / ((upper - indep).sum((1, 2)) / sd_prod))
        theta = np.where(degenerate, 0.0, c / ((lower - indep).sum((1, 2)) / sd_prod))
    coef = np.where(positive, phi, theta)[:, None, None]
    bound = np.pad(np.where(positive[:, None, None], upper, lower), ((0, 0), (1, 0), (1, 0)))
    mass = bound[:, 1:, 1:] - bound[:, :-1, 1:] - bound[:, 1:, :-1] + bound[:, :-1, :-1]
    jpdf = coef * mass + (1 - coef) * fp[:, :, None] * sp[:, None, :]
    h_s, h_f = -_plogp(sp).sum(-1), -_plogp(fp).sum(-1)
    mi = h_s + h_f + _plogp(jpdf).sum((1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mi == 0, 0.0, 2 * mi / (h_s + h_f))


def _scores(src: np.ndarray, fused_norm: np.ndarray, equal: np.ndarray) -> np.ndarray:
    out = np.ones(src.shape[0])
    todo = ~equal
    if todo.any():
        out[todo] = _nmi(_min_max(src[todo]), fused_norm[todo])
    return out


def fmi_pixel(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    wa, wb, wf = _windows(a), _windows(b), _windows(f)
    total = 0.0
    for start in range(0, wf.shape[0], _CHUNK):
        sa, sb, sf = (w[start : start + _CHUNK] for w in (wa, wb, wf))
        nf = _min_max(sf)
        eq_af = (sa == sf).all(-1)
        eq_bf = np.where(eq_af, (sb == sf).all(-1), (sb == nf).all(-1))
        total += (_scores(sa, nf, eq_af).sum() + _scores(sb, nf, eq_bf).sum()) / 2
    return float(total / wf.shape[0])

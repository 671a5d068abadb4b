"""Tiled inference for large images: bounded memory, same output as one pass for local models.

The image pair is padded once to the model's ``size_multiple`` and cut into tiles whose origins are
multiples of it (so every down-sampling sees the same pixel grid). Each tile is fused with a margin of
``overlap`` pixels of real context on each side and only its centre is kept. For a model whose
receptive field radius is below ``overlap`` (the CNN backbone: see ``receptive_radius``) the result
equals the untiled output up to float rounding; for global-attention backbones it is an approximation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError

FuseFn = Callable[[Tensor, Tensor], Tensor]


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def tiled_fuse(fuse: FuseFn, a: Tensor, b: Tensor, tile: int, overlap: int, multiple: int = 1) -> Tensor:
    """Fuse ``(B, 1, H, W)`` sources tile by tile; ``tile`` is the kept centre size, ``overlap`` the margin."""
    if tile <= 0 or overlap < 0:
        raise ConfigError(f"eval.tile_size must be > 0 and eval.tile_overlap >= 0, got {tile} and {overlap}")
    h, w = a.shape[-2:]
    tile = _round_up(tile, multiple)
    overlap = _round_up(overlap, multiple)
    ph, pw = _round_up(h, multiple) - h, _round_up(w, multiple) - w
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        a, b = (F.pad(t, (0, pw, 0, ph), mode=mode) for t in (a, b))
    H, W = a.shape[-2:]
    if H <= tile and W <= tile:
        return fuse(a, b)[..., :h, :w]
    out = torch.empty(a.shape[0], 1, H, W, dtype=torch.float32, device=a.device)
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            y1, x1 = min(y0 + tile, H), min(x0 + tile, W)
            # context window, clipped to the image, origins stay on the multiple grid
            cy0, cx0 = max(y0 - overlap, 0), max(x0 - overlap, 0)
            cy1, cx1 = min(y1 + overlap, H), min(x1 + overlap, W)
            fused = fuse(a[..., cy0:cy1, cx0:cx1], b[..., cy0:cy1, cx0:cx1]).float()
            out[..., y0:y1, x0:x1] = fused[..., y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    return out[..., :h, :w]

"""The one colour policy: models fuse luminance, chroma is carried beside and re-attached.

BT.601 full-range YCbCr (the JPEG/OpenCV convention) on tensors in [0, 1]. One colour source: its CbCr
is reused. Two colour sources (MEF, MFF): CbCr are blended with weights |C - 0.5| (saturation), the
rule GIFNet and the classical MEF/MFF literature use, so the more saturated source wins per pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.errors import ConfigError

_KR, _KG, _KB = 0.299, 0.587, 0.114


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """(..., 3, H, W) RGB in [0, 1] -> (..., 3, H, W) YCbCr in [0, 1] (chroma centred at 0.5)."""
    r, g, b = rgb.unbind(-3)
    y = _KR * r + _KG * g + _KB * b
    cb = (b - y) / (2 * (1 - _KB)) + 0.5
    cr = (r - y) / (2 * (1 - _KR)) + 0.5
    return torch.stack((y, cb, cr), dim=-3)


def ycbcr_to_rgb(ycc: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr`, clamped to [0, 1]."""
    y, cb, cr = ycc.unbind(-3)
    cb, cr = cb - 0.5, cr - 0.5
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    return torch.stack((r, g, b), dim=-3).clamp(0.0, 1.0)


def luminance(img: Tensor) -> Tensor:
    """BT.601 luma of a (…, C, H, W) image with C in {1, 3}; gray images pass through."""
    if img.shape[-3] == 1:
        return img
    if img.shape[-3] != 3:
        raise ConfigError(f"expected 1 or 3 channels, got shape {tuple(img.shape)}")
    return rgb_to_ycbcr(img)[..., :1, :, :]


def blend_chroma(cbcr_a: Tensor | None, cbcr_b: Tensor | None) -> Tensor | None:
    """The chroma of the fused image: None (gray), one source's CbCr, or a saturation-weighted blend."""
    if cbcr_a is None:
        return cbcr_b
    if cbcr_b is None:
        return cbcr_a
    wa = (cbcr_a - 0.5).abs()
    wb = (cbcr_b - 0.5).abs()
    total = wa + wb
    blended = (cbcr_a * wa + cbcr_b * wb) / total.clamp_min(1e-8)
    # Where neither source has chroma (both exactly neutral) fall back to the plain mean.
    return torch.where(total > 1e-8, blended, 0.5 * (cbcr_a + cbcr_b))


def restore_color(fused_y: Tensor, cbcr_a: Tensor | None, cbcr_b: Tensor | None) -> Tensor:
    """Fused luminance (…, 1, H, W) + source chroma -> RGB (…, 3, H, W), or the gray image itself."""
    cbcr = blend_chroma(cbcr_a, cbcr_b)
    if cbcr is None:
        return fused_y
    return ycbcr_to_rgb(torch.cat((fused_y, cbcr.to(fused_y)), dim=-3))

"""The colour policy: exact round trip, chroma reuse and saturation-weighted blending."""

from __future__ import annotations

import torch

from fusionlab.color import blend_chroma, luminance, restore_color, rgb_to_ycbcr, ycbcr_to_rgb


def test_round_trip_within_one_gray_level():
    rgb = torch.rand(2, 3, 16, 16)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
    assert float((back - rgb).abs().max()) * 255 < 1e-3


def test_bt601_luma_weights():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    assert abs(float(luminance(rgb)) - 0.299) < 1e-7
    gray = torch.rand(1, 4, 4)
    assert torch.equal(luminance(gray), gray)


def test_one_colour_source_gives_back_its_chroma():
    rgb = torch.rand(3, 8, 8)
    ycc = rgb_to_ycbcr(rgb)
    out = restore_color(ycc[:1], None, ycc[1:])
    assert torch.allclose(out, rgb, atol=1e-5)
    assert restore_color(ycc[:1], None, None).shape == (1, 8, 8)


def test_blend_prefers_the_more_saturated_source():
    neutral = torch.full((2, 4, 4), 0.5)
    vivid = torch.full((2, 4, 4), 0.9)
    assert torch.allclose(blend_chroma(neutral, vivid), vivid)
    assert torch.allclose(blend_chroma(neutral, neutral), neutral)

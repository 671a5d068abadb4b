"""Restormer blocks: window attention only mixes pixels of one (shifted) window, never across the roll's
wrap-around or with padding; channel attention is linear in the pixel count (no HW x HW map)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fusionlab.models.backbones.transformer import ChannelAttention, WindowAttention


@pytest.mark.parametrize(("shift", "expected_rows", "expected_cols"), [(False, 4, 4), (True, 2, 2)])
def test_window_attention_is_local_to_its_window(shift, expected_rows, expected_cols):
    attn = WindowAttention(8, heads=2, window=4, shift=shift)
    attn.qkv[1] = nn.Identity()  # drop the depthwise conv so that locality is exactly the window's
    x = torch.randn(1, 8, 10, 11)  # not a multiple of the window: padded and masked inside
    poked = x.clone()
    poked[..., 0, 0] += 5.0
    with torch.no_grad():
        changed = (attn(poked) - attn(x)).abs().sum(1)[0] > 1e-6
    rows, cols = changed.nonzero().unbind(1)
    # the top-left window; with a shift, the bottom/right pixels rolled next to it must stay untouched
    assert rows.max() + 1 == expected_rows and cols.max() + 1 == expected_cols


def test_channel_attention_map_is_channels_by_channels():
    attn = ChannelAttention(8, heads=2)
    maps = []
    attn.qkv.register_forward_hook(lambda m, i, o: maps.append(o.shape))
    y = attn(torch.randn(1, 8, 64, 96))
    assert y.shape == (1, 8, 64, 96) and maps == [(1, 24, 64, 96)]

"""Tiled inference equals one pass for the CNN FusionNet, at odd sizes and with bounded tiles."""

from __future__ import annotations

import pytest
import torch

from fusionlab.models import FusionNet
from fusionlab.models.backbones import DenseCNN
from fusionlab.models.tiling import tiled_fuse


@pytest.mark.parametrize(("h", "w", "tile"), [(150, 203, 64), (97, 130, 48)])
def test_tiled_equals_untiled(h, w, tile):
    torch.manual_seed(0)
    model = FusionNet(DenseCNN(width=8)).eval()
    a, b = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    calls: list[tuple[int, int]] = []

    def fuse(x, y):
        calls.append(tuple(x.shape[-2:]))
        return model(x, y)

    with torch.no_grad():
        full = model(a, b)
        tiled = tiled_fuse(fuse, a, b, tile=tile, overlap=48, multiple=model.size_multiple)
    assert tiled.shape == full.shape
    assert float((tiled - full).abs().max()) < 1e-4
    assert len(calls) > 1 and max(max(c) for c in calls) <= tile + 2 * 48  # memory bounded by the tile


def test_bad_tile_settings():
    with pytest.raises(ValueError, match="tile_size"):
        tiled_fuse(lambda x, y: x, torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), tile=0, overlap=4)

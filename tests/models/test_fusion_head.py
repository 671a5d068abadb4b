"""FusionNet's output heads: the mean-correction head and the learned per-pixel blend ("weights")."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.models import FusionNet
from fusionlab.models.backbones import DenseCNN


@pytest.mark.parametrize("head", ["correction", "weights"])
def test_untrained_head_outputs_the_mean(head):
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head=head).eval()
    a, b = torch.rand(1, 1, 16, 16) * 0.8 + 0.1, torch.rand(1, 1, 16, 16) * 0.8 + 0.1
    with torch.no_grad():
        assert torch.allclose(net(a, b), 0.5 * (a + b), atol=0.02)
        assert torch.allclose(net.reconstruct(a), a, atol=0.02)


def test_weights_head_blends_the_sources_and_bounds_the_correction():
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="weights", max_correction=0.5).eval()
    with torch.no_grad():
        net.decoder.head[-1].weight.normal_(std=5.0)  # strong, arbitrary weights and correction
        net.decoder.head[-1].bias.copy_(torch.tensor([3.0, -3.0, 10.0]))
    a, b = torch.rand(1, 1, 16, 16) * 0.8 + 0.1, torch.rand(1, 1, 16, 16) * 0.8 + 0.1
    with torch.no_grad():
        out = net(a, b)
    lo, hi = torch.minimum(a, b).clamp(1e-3, 1 - 1e-3), torch.maximum(a, b).clamp(1e-3, 1 - 1e-3)
    # a blend in [lo, hi], moved by at most 0.5 in logit space
    assert (torch.logit(out) <= torch.logit(hi) + 0.5 + 1e-4).all()
    assert (torch.logit(out) >= torch.logit(lo) - 0.5 - 1e-4).all()


def test_bad_head_is_a_config_error():
    with pytest.raises(ConfigError, match="model.head"):
        FusionNet(DenseCNN(width=4, layers=1), head="nope")
    with pytest.raises(ConfigError, match="max_correction"):
        FusionNet(DenseCNN(width=4, layers=1), max_correction=0)


def test_swap_sources_keeps_the_callers_feature_order():
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="weights", swap_sources=True).train()
    a, b = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    _, feats = net.forward_with_features(a, b)
    for got, want in ((feats["features_a"], net.encode(a)), (feats["features_b"], net.encode(b))):
        for g, w in zip(got, want):
            assert torch.allclose(g, w, atol=1e-5)

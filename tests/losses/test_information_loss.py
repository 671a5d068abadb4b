"""Information-weighted pixel loss and the supervised target term."""

from __future__ import annotations

import pytest
import torch

from fusionlab.losses import InformationWeightedLoss, SupervisedLoss
from fusionlab.losses.information import image_pyramid, information_weights


def _batch(tasks=("ivif", "mff")):
    g = torch.Generator().manual_seed(5)
    a = torch.rand(2, 1, 32, 32, generator=g)  # textured
    b = torch.full((2, 1, 32, 32), 0.4) + 0.02 * torch.rand(2, 1, 32, 32, generator=g)  # nearly flat
    return {"a": a, "b": b, "task": list(tasks), "target": a.clone()}


def test_weights_sum_to_one_and_follow_information():
    batch = _batch()
    for normalize in (True, False):
        for c in (0.05, 0.25, 10.0):
            wa, wb = information_weights(image_pyramid(batch["a"]), image_pyramid(batch["b"]), c, normalize)
            assert wa.shape == (2,) and torch.allclose(wa + wb, torch.ones(2))
            assert bool((wa > wb).all())
    # temperature: small c -> hard choice, large c -> equal weights
    sharp, _ = information_weights(image_pyramid(batch["a"]), image_pyramid(batch["b"]), 0.05)
    soft, _ = information_weights(image_pyramid(batch["a"]), image_pyramid(batch["b"]), 100.0)
    assert float(sharp.min()) > 0.99 and torch.allclose(soft, torch.full((2,), 0.5), atol=0.01)
    with pytest.raises(ValueError, match="temperature"):
        InformationWeightedLoss(temperature=0)


def test_loss_value_gradient_and_feature_source():
    batch = _batch()
    term = InformationWeightedLoss(temperature=0.05, distance="l1")
    assert float(term(batch["a"], batch)) < 1e-3  # copying the informative source is (almost) optimal
    fused = (0.5 * (batch["a"] + batch["b"])).requires_grad_(True)
    (grad,) = torch.autograd.grad(InformationWeightedLoss(ssim_weight=1.0)(fused, batch), fused)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    # features: used when present (auto) and required when source=features
    feats = {"features_a": [batch["a"].expand(-1, 4, -1, -1)], "features_b": [batch["b"].expand(-1, 4, -1, -1)]}
    wa, _ = InformationWeightedLoss(source="auto").weights({**batch, **feats})
    assert bool((wa > 0.5).all())
    need = InformationWeightedLoss(source="features")
    assert need.needs_features and not InformationWeightedLoss().needs_features
    with pytest.raises(KeyError, match="features_a"):
        need(fused, batch)


def test_task_filters():
    batch = _batch(("mff", "mff"))
    fused = torch.rand(2, 1, 32, 32)
    assert float(InformationWeightedLoss(tasks=["ivif"])(fused, batch)) == 0.0
    sup = SupervisedLoss(tasks=["mff"])
    assert float(sup(batch["target"], batch)) == 0.0 and float(sup(fused, batch)) > 0
    assert float(SupervisedLoss(tasks=["ivif"])(fused, batch)) == 0.0
    no_target = {k: v for k, v in batch.items() if k != "target"}
    assert float(sup(fused, no_target)) == 0.0


def test_bf16():
    batch = _batch()
    fused = 0.5 * (batch["a"] + batch["b"])
    term = InformationWeightedLoss()
    ref = term(fused, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = term(fused.bfloat16(), {**batch, "a": batch["a"].bfloat16(), "b": batch["b"].bfloat16()})
    assert low.dtype == torch.float32 and float(low) == pytest.approx(float(ref), rel=5e-2)

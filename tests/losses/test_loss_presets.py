"""Every loss preset composes with the real config, instantiates and runs on a small batch."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from fusionlab.losses import Objective
from fusionlab.models import FusionNet
from fusionlab.models.backbones import DenseCNN


def _batch_with_model_outputs(model: FusionNet, size: int = 32) -> tuple[torch.Tensor, dict]:
    """What FusionModule hands the objective: fused, reconstructions and (on demand) features."""
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 1, size, size, generator=g), torch.rand(2, 1, size, size, generator=g)
    fused, feats = model.forward_with_features(a, b)
    batch = {"a": a, "b": b, "task": ["ivif", "mff"], "target": torch.maximum(a, b),
             "rec_a": model.reconstruct(a), "rec_b": model.reconstruct(b), **feats}
    return fused, batch


@pytest.mark.parametrize("preset,terms", [
    ("decc", {"intensity", "gradient", "ssim", "pixel_entropy", "frequency"}),
    ("unifusion", {"intensity", "gradient", "ssim", "reconstruction"}),
    ("gifnet", {"information", "supervised", "reconstruction"}),
    ("cddfuse", {"intensity", "gradient", "decomposition"}),
])
def test_preset_instantiates_and_runs(compose, preset, terms):
    cfg = compose(f"loss={preset}", "+debug=fast", "data.mode=synthetic")
    objective = instantiate(cfg.loss, _convert_="all")
    assert isinstance(objective, Objective)
    model = FusionNet(DenseCNN(width=4, layers=1))
    fused, batch = _batch_with_model_outputs(model)
    total, parts = objective(fused, batch)
    assert set(parts) == terms
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in parts.values())
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)
    semantic = [m for m in objective.modules() if hasattr(m, "encoder")]
    assert all(p.grad is None for m in semantic for p in m.encoder.parameters())


def test_decc_ablation_overrides(compose):
    cfg = compose("loss=decc", "+debug=fast", "loss.terms.frequency.split=none",
                  "loss.terms.frequency.low.semantic_entropy.weight=0", "loss.terms.pixel_entropy.weight=0")
    objective = instantiate(cfg.loss, _convert_="all")
    assert objective.terms["frequency"].split == "none"
    fused, batch = _batch_with_model_outputs(FusionNet(DenseCNN(width=4, layers=1)))
    _, parts = objective(fused.detach(), batch)
    assert "pixel_entropy" not in parts and set(objective.terms["frequency"].last_parts) == {"high.detail"}

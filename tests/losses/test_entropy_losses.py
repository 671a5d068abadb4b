"""Pixel-entropy (soft histogram) and semantic-entropy (frozen model) terms."""

from __future__ import annotations

import math

import pytest
import torch

from fusionlab.losses import PixelEntropyLoss, SemanticEntropyLoss
from fusionlab.losses.entropy import local_entropy, soft_entropy, soft_histogram


def _uniform(bins: int) -> torch.Tensor:
    """Every bin centre equally often: the uniform histogram."""
    x = (torch.arange(bins, dtype=torch.float32) + 0.5) / bins
    return x.repeat(4).view(1, 1, 4 * bins // 16, 16)


@pytest.mark.parametrize("bins", [16, 256])
def test_entropy_of_uniform_histogram_is_log_bins(bins):
    x = _uniform(bins)
    assert float(soft_entropy(x, bins, base=2)) == pytest.approx(math.log2(bins), abs=1e-4)
    assert float(soft_entropy(x, bins, "gaussian", bandwidth=0.5, base=2)) == pytest.approx(math.log2(bins), abs=0.05)
    assert float(PixelEntropyLoss(bins=bins)(x, {})) == pytest.approx(0.0, abs=1e-4)
    const = torch.full((1, 1, 8, 8), 4.5 / bins)  # one bin centre: a single occupied bin
    assert float(PixelEntropyLoss(bins=bins)(const, {})) == pytest.approx(1.0, abs=1e-4)
    between = torch.full((1, 1, 8, 8), 5.0 / bins)  # halfway: the soft histogram splits it over two bins
    assert float(soft_entropy(between, bins)) == pytest.approx(math.log(2), abs=1e-4)
    hist = soft_histogram(torch.rand(3, 1, 8, 8), bins)
    assert torch.allclose(hist.sum(1), torch.ones(3))


def test_local_entropy():
    const = torch.full((1, 1, 16, 16), 2.5 / 8)
    assert float(local_entropy(const, 8).max()) < 1e-4
    noisy = torch.rand(1, 1, 16, 16)
    assert float(PixelEntropyLoss(bins=8, mode="local")(noisy, {})) < float(PixelEntropyLoss(bins=8, mode="local")(const, {}))


@pytest.mark.parametrize("term", [PixelEntropyLoss(), PixelEntropyLoss(kernel="gaussian", bins=32),
                                  PixelEntropyLoss(mode="local", bins=16)])
def test_pixel_entropy_gradient_and_bf16(term):
    fused = (0.3 + 0.4 * torch.rand(2, 1, 24, 24)).requires_grad_(True)
    value = term(fused, {})
    (grad,) = torch.autograd.grad(value, fused)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = term(fused.detach().bfloat16(), {})
    assert low.dtype == torch.float32 and float(low) == pytest.approx(float(value), abs=0.02)


def test_semantic_entropy_is_frozen_deterministic_and_differentiable():
    term = SemanticEntropyLoss()
    again = SemanticEntropyLoss()
    state = torch.random.get_rng_state()
    SemanticEntropyLoss(seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone
    assert all(torch.equal(p, q) for p, q in zip(term.state_dict().values(), again.state_dict().values()))
    term.train()
    assert not term.encoder.training and term.training
    fused = torch.rand(2, 1, 32, 32, requires_grad=True)
    value = term(fused, {})
    assert 0.0 <= float(value) <= 1.0
    value.backward()
    assert torch.isfinite(fused.grad).all() and float(fused.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in term.encoder.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = term(fused.detach().bfloat16(), {})
    assert low.dtype == torch.float32 and float(low) == pytest.approx(float(value), abs=0.03)


def test_semantic_entropy_extremes_and_local_files(tmp_path):
    term = SemanticEntropyLoss(prototypes=4)
    fused = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        z = torch.nn.functional.normalize(term.encoder(fused), dim=1)
    # prototypes = the image's own mean feature direction and its opposite -> confident posteriors
    proto = torch.stack([z.mean((0, 2, 3)), -z.mean((0, 2, 3))])
    torch.save(proto, tmp_path / "protos.pt")
    torch.save(term.encoder.state_dict(), tmp_path / "enc.pt")
    confident = SemanticEntropyLoss(weights=str(tmp_path / "enc.pt"), prototypes=str(tmp_path / "protos.pt"),
                                    temperature=0.01, seed=7)
    assert float(confident(fused, {})) < float(term(fused, {}))
    with pytest.raises(ValueError, match="prototypes"):
        SemanticEntropyLoss(prototypes=1)
    torch.save(torch.zeros(3, 5), tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"\(K, 64\)"):
        SemanticEntropyLoss(prototypes=str(tmp_path / "bad.pt"))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        SemanticEntropyLoss(weights=str(tmp_path / "missing.pth"))


def test_semantic_entropy_with_a_timm_model_from_a_local_file(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet10t", pretrained=False)
    torch.save(net.state_dict(), tmp_path / "resnet10t.pth")
    term = SemanticEntropyLoss(model="resnet10t", weights=str(tmp_path / "resnet10t.pth"), out_index=2)
    loaded = dict(term.encoder.net.named_parameters())["conv1.0.weight"]
    assert torch.equal(loaded, net.state_dict()["conv1.0.weight"])
    fused = torch.rand(1, 1, 32, 32, requires_grad=True)
    term(fused, {}).backward()
    assert float(fused.grad.abs().sum()) > 0

"""The semantic prior fusionlab learns itself (DECC's semantic-entropy term): the contrastive objective, the
prototype clustering, the prior file, the shipped prior, and the documented pre-training command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fusionlab.errors import ConfigError
from fusionlab.losses import SemanticEntropyLoss
from fusionlab.losses.semantic import TinySemanticEncoder
from fusionlab.losses.semantic_prior import (
    PRIOR_DIR,
    dense_info_nce,
    load_prior,
    pretrain_encoder,
    prior_path,
    save_prior,
    shipped_priors,
    spherical_kmeans,
)

REPO = Path(__file__).resolve().parents[2]


def test_dense_info_nce_is_zero_for_matching_views_and_chance_for_unrelated_ones():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 16, 8, 8, generator=g)
    assert dense_info_nce(z, z, temperature=0.01, samples=32, generator=g) < 1e-3
    unrelated = dense_info_nce(z, torch.randn(2, 16, 8, 8, generator=g), temperature=10.0, samples=32, generator=g)
    assert unrelated == pytest.approx(math.log(32), rel=0.02)
    with pytest.raises(ValueError, match="same feature shape"):
        dense_info_nce(z, z[:, :8])


def test_spherical_kmeans_finds_separated_directions():
    g = torch.Generator().manual_seed(1)
    centres = F.normalize(torch.randn(3, 8, generator=g), dim=1)
    points = torch.cat([c + 0.05 * torch.randn(50, 8, generator=g) for c in centres])
    found = spherical_kmeans(points, 3, seed=0)
    assert found.shape == (3, 8) and torch.allclose(found.norm(dim=1), torch.ones(3))
    assert (centres @ found.T).amax(1).min() > 0.99  # every true direction has a centre
    with pytest.raises(ValueError, match="at least k"):
        spherical_kmeans(points[:2], 3)


def _registered_pairs(seed: int, size: int = 64):
    """Endless batches of a registered pair: one smooth scene, seen as itself and with inverted contrast plus
    noise (as a thermal and a visible sensor may render the same edge with opposite signs)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        x = F.interpolate(torch.rand(4, 1, size // 8, size // 8, generator=g), size=(size, size), mode="bilinear",
                          align_corners=False)
        yield {"a": x, "b": (1 - x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)}


def test_pretraining_learns_cross_modal_correspondence_and_the_prior_file_round_trips(tmp_path):
    encoder, losses = pretrain_encoder(_registered_pairs(0), steps=40, lr=3e-3, samples=16, seed=0)
    assert not encoder.training and encoder.standardize
    assert np.mean(losses[:5]) > 2.0 and np.mean(losses[-5:]) < 0.5  # from about chance (log 16 = 2.77) to matching
    prototypes = torch.randn(5, encoder.out_channels)
    path = save_prior(tmp_path / "sub" / "prior.pt", encoder, prototypes, {"steps": 40})
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    prior = load_prior(path)
    assert prior["meta"] == {"encoder": {"standardize": True}, "steps": 40}
    term = SemanticEntropyLoss(weights=str(path))  # the encoder, its input mode and the prototypes come along
    assert term.encoder.standardize and term.prototypes.shape == (5, 64)
    assert torch.allclose(term.prototypes, F.normalize(prototypes, dim=1))
    x = torch.rand(1, 1, 64, 64)
    assert torch.allclose(term.encoder(x), encoder(x))
    # a plain state dict of the tiny encoder (older weights files) still loads, with random prototypes
    torch.save(TinySemanticEncoder().state_dict(), tmp_path / "plain.pt")
    assert load_prior(tmp_path / "plain.pt") is None
    assert SemanticEntropyLoss(weights=str(tmp_path / "plain.pt")).prototypes.shape == (16, 64)
    with pytest.raises(ConfigError, match="own prototypes"):
        SemanticEntropyLoss(weights=str(path), prototypes=str(tmp_path / "p.pt"))


def test_shipped_prior_is_named_described_and_refuses_conflicting_keys():
    assert "msrs_tiny" in shipped_priors()
    assert prior_path("msrs_tiny").stat().st_size < 1_000_000
    info = json.loads((PRIOR_DIR / "msrs_tiny.json").read_text())
    assert info["recipe"].startswith("python -m fusionlab.pretrain_semantic")
    term = SemanticEntropyLoss(pretrained="msrs_tiny")
    assert term.encoder.standardize and term.prototypes.shape == (16, 64)
    with pytest.raises(ConfigError, match="msrs_tiny"):  # the error lists what is shipped
        SemanticEntropyLoss(pretrained="nope")
    with pytest.raises(ConfigError, match="leave weights=null"):
        SemanticEntropyLoss(pretrained="msrs_tiny", weights=str(prior_path("msrs_tiny")))


def _retrieval(encoder: torch.nn.Module, a: torch.Tensor, b: torch.Tensor, n: int = 256) -> float:
    """Top-1 accuracy of finding each location's infrared feature's visible counterpart among n locations."""
    with torch.no_grad():
        za, zb = (F.normalize(encoder(x), dim=1).flatten(2)[0] for x in (a, b))
    idx = torch.randperm(za.shape[1], generator=torch.Generator().manual_seed(0))[:n]
    return float(((za[:, idx].T @ zb[:, idx]).argmax(1) == torch.arange(len(idx))).float().mean())


def test_shipped_prior_matches_modalities_on_held_out_images(data_dir):
    """On the MSRS *test* pairs (the prior saw only training pairs), an infrared location's feature finds its
    visible counterpart among 256 locations far above chance (1/256) and far above a random encoder's rate."""
    from fusionlab.pretrained import read_pair

    learned = SemanticEntropyLoss(pretrained="msrs_tiny").encoder
    torch.manual_seed(0)
    random = TinySemanticEncoder().eval()
    stems = sorted(p.stem for p in (data_dir / "msrs" / "test" / "ir").glob("*.png"))
    assert len(stems) >= 5
    got = {"learned": [], "random": []}
    for stem in stems:
        a, b = read_pair(data_dir, ("msrs", "test", stem))
        got["learned"].append(_retrieval(learned, a, b))
        got["random"].append(_retrieval(random, a, b))
    learned_rate, random_rate = np.mean(got["learned"]), np.mean(got["random"])
    assert learned_rate > 10 / 256 and learned_rate > 5 * max(random_rate, 1 / 256), (learned_rate, random_rate)


@pytest.mark.slow
def test_pretraining_command_writes_a_prior_the_decc_term_reads(tmp_path):
    """The documented command through the real CLI (embedded data, sizes shrunk), then a DECC run that reads
    the prior it wrote."""
    run = tmp_path / "prior"
    env = {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "NO_ALBUMENTATIONS_UPDATE": "1", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "fusionlab.pretrain_semantic", "data.mode=synthetic", "steps=8", "kmeans_batches=2",
           "prototypes=4", "data.patch_size=32", "data.batch_size=2", f"hydra.run.dir={run}"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "wrote" in out.stderr + out.stdout
    prior = load_prior(run / "semantic_prior.pt")
    assert prior["prototypes"].shape == (4, 64) and prior["meta"]["data_mode"] == "synthetic"
    train = [sys.executable, "-m", "fusionlab.train", "+experiment=decc", "data.mode=synthetic",
             f"loss.terms.frequency.low.semantic_entropy.weights={run / 'semantic_prior.pt'}", "trainer.max_steps=2",
             "test=false", "logger=csv", f"hydra.run.dir={tmp_path / 'decc'}", "data.patch_size=32"]
    out = subprocess.run(train, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "decc" / "checkpoints" / "last.ckpt").is_file()
    bad = subprocess.run([*cmd[:3], "steps=0", f"hydra.run.dir={tmp_path / 'bad'}"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "steps must be >= 1" in bad.stderr
    assert not (tmp_path / "bad" / "semantic_prior.pt").exists()
    for key in ("temperature=0", "prototypes=1", "samples=1"):  # each bad value named before any work is done
        bad = subprocess.run([*cmd[:3], key, f"hydra.run.dir={tmp_path / 'bad'}"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and f"{key} is out of range" in bad.stderr, bad.stderr[-500:]

"""A semantic prior fusionlab learns itself: the semantic-entropy encoder, trained cross-modally, and its prototypes.

DECC's low semantic-entropy expectation needs a model whose features say *what* is at a location. Nothing can be
downloaded here, and a random encoder with random prototypes carries no semantics (experiments/README.md). So
fusionlab pre-trains :class:`~fusionlab.losses.semantic.TinySemanticEncoder` on the training pairs themselves,
self-supervised, with an objective that fusion gives for free: the two sources are *registered*. Dense
cross-modal InfoNCE asks the infrared feature at each location to pick out the visible feature at the same place
among the features of all sampled locations in the batch (and the other way round). What both sensors agree on
is the scene, not how each renders it, so the features learn scene content that survives a change of modality:
the content a fused image should keep unambiguous. The prototypes are then the centres of a spherical k-means
of the features over the training images: the scene's recurring kinds of content, which the semantic-entropy
posterior is taken over.

A prior file (``torch.save``) holds ``{"encoder": state_dict, "prototypes": (K, C) tensor, "meta": {...}}``;
``python -m fusionlab.pretrain_semantic`` writes one and ``semantic_entropy.pretrained=NAME`` or
``semantic_entropy.weights=FILE`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from fusionlab.errors import ConfigError
from fusionlab.losses.semantic import TinySemanticEncoder

PRIOR_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "semantic"
PRIOR_KEYS = ("encoder", "prototypes")


def dense_info_nce(za: Tensor, zb: Tensor, temperature: float = 0.1, samples: int = 32,
                   generator: torch.Generator | None = None) -> Tensor:
    """Symmetric InfoNCE between the features of two registered views ``(B, C, h, w)`` at ``samples`` random
    locations per image: each location's feature in one view must match the same location in the other view
    against the other sampled locations *of the same image*. Negatives stay within an image because training
    patches of one scene overlap: another patch's location may be the very same place. 0 when matching is
    certain; log(samples) at chance."""
    if za.shape != zb.shape:
        raise ValueError(f"views must have the same feature shape, got {tuple(za.shape)} and {tuple(zb.shape)}")
    b, c, h, w = za.shape
    n = min(samples, h * w)
    if n < 2:
        raise ValueError(f"need >= 2 feature locations per image for contrast, got {h}x{w}")
    idx = torch.stack([torch.randperm(h * w, generator=generator)[:n] for _ in range(b)]).to(za.device)
    qa, qb = (F.normalize(z.flatten(2).gather(2, idx[:, None].expand(-1, c, -1)), dim=1) for z in (za, zb))
    logits = torch.einsum("bci,bcj->bij", qa, qb) / temperature  # (B, n, n): row i's positive is column i
    target = torch.arange(n, device=za.device).expand(b, -1)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.transpose(1, 2), target))


def spherical_kmeans(z: Tensor, k: int, iters: int = 50, seed: int = 0) -> Tensor:
    """``k`` unit-norm centres of the rows of ``z`` (N, C) by cosine similarity (k-means++ start, seeded)."""
    if z.ndim != 2 or z.shape[0] < k:
        raise ValueError(f"need at least k={k} feature rows (N, C), got {tuple(z.shape)}")
    z = F.normalize(z.float(), dim=1)
    g = torch.Generator().manual_seed(seed)
    centres = [z[torch.randint(z.shape[0], (1,), generator=g)].squeeze(0)]
    for _ in range(1, k):  # k-means++: far from the chosen centres with probability ∝ distance²
        dist = (1 - (z @ torch.stack(centres).T).amax(1)).clamp_min(0)
        centres.append(z[torch.multinomial(dist.square() + 1e-12, 1, generator=g)].squeeze(0))
    c = torch.stack(centres)
    for _ in range(iters):
        assign = (z @ c.T).argmax(1)
        sums = torch.zeros_like(c).index_add_(0, assign, z)
        empty = sums.norm(dim=1) < 1e-8
        c = torch.where(empty[:, None], c, F.normalize(sums, dim=1))
    return c


def pretrain_encoder(batches: Iterator[dict], steps: int, lr: float = 1e-3, temperature: float = 0.1,
                     samples: int = 32, seed: int = 0, log_every: int = 50,
                     log: Any = None) -> tuple[TinySemanticEncoder, list[float]]:
    """Train a :class:`TinySemanticEncoder` for ``steps`` batches of registered pairs (``a``, ``b``) with
    :func:`dense_info_nce` through a 1x1 projection (discarded after training: the features before it keep
    more than the contrastive task needs). Returns the encoder (eval mode) and the loss per step."""
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    torch.manual_seed(seed)
    encoder = TinySemanticEncoder(standardize=True)
    head = torch.nn.Sequential(torch.nn.Conv2d(encoder.out_channels, encoder.out_channels, 1), torch.nn.GELU(),
                               torch.nn.Conv2d(encoder.out_channels, encoder.out_channels, 1))
    params = [*encoder.parameters(), *head.parameters()]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, steps)
    g = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    encoder.train()
    for step in range(steps):
        batch = next(batches)
        a, b = batch["a"].float(), batch["b"].float()
        loss = dense_info_nce(head(encoder(a)), head(encoder(b)), temperature, samples, g)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log is not None and (step + 1) % log_every == 0:
            log(f"step {step + 1}/{steps}: cross-modal InfoNCE {sum(losses[-log_every:]) / log_every:.4f} "
                f"(chance {torch.log(torch.tensor(float(samples))):.2f})")
    return encoder.eval(), losses


@torch.no_grad()
def collect_features(encoder: torch.nn.Module, batches: Iterator[dict], count: int, per_image: int = 64,
                     seed: int = 0) -> Tensor:
    """(N, C) encoder features at ``per_image`` random locations of both sources of ``count`` batches."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(count):
        batch = next(batches)
        for key in ("a", "b"):
            z = encoder(batch[key].float()).flatten(2)  # (B, C, hw)
            n = min(per_image, z.shape[-1])
            for zi in z:
                rows.append(zi[:, torch.randperm(zi.shape[-1], generator=g)[:n]].T)
    return torch.cat(rows)


def save_prior(path: str | Path, encoder: torch.nn.Module, prototypes: Tensor, meta: dict[str, Any]) -> Path:
    """Write a prior file atomically (a temporary file renamed into place: nothing half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"encoder": {k: v.detach().float().cpu() for k, v in encoder.state_dict().items()},
                "prototypes": F.normalize(prototypes.detach().float().cpu(), dim=1),
                "meta": {"encoder": {"standardize": bool(getattr(encoder, "standardize", False))}, **meta}}, tmp)
    tmp.replace(path)
    return path


def shipped_priors() -> list[str]:
    """Names of the semantic priors shipped in the package (``pretrained/semantic/<name>.pt``)."""
    return sorted(p.stem for p in PRIOR_DIR.glob("*.pt"))


def prior_path(name: str) -> Path:
    """The file of shipped prior ``name``; an unknown name lists the shipped ones."""
    if str(name) not in shipped_priors():
        raise ConfigError(f"semantic_entropy.pretrained={name!r} is not shipped; available: "
                          f"{', '.join(shipped_priors()) or '(none)'} (or train one with python -m "
                          "fusionlab.pretrain_semantic and pass semantic_entropy.weights=FILE)")
    return PRIOR_DIR / f"{name}.pt"


def load_prior(path: str | Path) -> dict[str, Any] | None:
    """The prior file's content, or None when ``path`` holds a plain encoder state dict (older weights files)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and all(k in state for k in PRIOR_KEYS):
        return state
    return None

"""Deterministic, resumable training sampling.

Each training sample is a pure function of ``(seed, epoch, index)``: the sampler draws the epoch's
indices from a generator seeded by ``(seed, epoch)``, and :class:`SeededSamples` seeds every RNG a
transform may use from ``(seed, epoch, index)`` before loading the sample. Results therefore do not
depend on ``num_workers``, and :class:`ResumableDataLoader` can resume mid-epoch after a crash by
skipping exactly the batches the checkpoint had already trained on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for one sample of one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class EpochWeightedSampler(DistributedSampler):
    """Weighted sampling with replacement; yields ``(epoch, position, index)`` so datasets can seed per draw
    (an index drawn twice in one epoch gets two different augmentations).

    Under DDP each rank takes every ``num_replicas``-th draw of the same epoch-seeded sequence. It subclasses
    ``DistributedSampler`` only so that Lightning does not wrap it in ``DistributedSamplerWrapper``: the wrapper
    would never pass the epoch to this sampler (every epoch the same draws) and would hide its resume position.
    """

    def __init__(self, weights: torch.Tensor, num_samples: int, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0) -> None:
        # DistributedSampler.__init__ is not called: it needs a dataset and an initialised process group.
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.weights = weights.double()
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.epoch = 0
        self._skip = 0
        self._skip_epoch = -1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume(self, epoch: int, skip: int) -> None:
        """Skip the first ``skip`` draws of this rank's share of ``epoch`` the next time that epoch is iterated."""
        self._skip_epoch, self._skip = int(epoch), int(skip)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        draws = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=gen).tolist()
        mine = [(self.epoch, pos, i) for pos, i in enumerate(draws[: len(self) * self.num_replicas])
                if pos % self.num_replicas == self.rank]
        start = self._skip if self._skip_epoch == self.epoch else 0
        self._skip, self._skip_epoch = 0, -1
        return iter(mine[start:])

    def __len__(self) -> int:
        return self.num_samples // self.num_replicas


class SeededSamples(Dataset):
    """Wraps a dataset: item ``(epoch, position, index)`` is loaded with every RNG seeded from
    (seed, epoch, position); datasets (or ConcatDataset parts) with a ``reseed(seed)`` method get it too."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int, int] | int) -> Any:
        epoch, pos, index = key if isinstance(key, tuple) else (0, key, key)
        s = sample_seed(self.seed, epoch, pos)
        random.seed(s)
        np.random.seed(s % 2**32)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            for part in getattr(self.dataset, "datasets", [self.dataset]):
                reseed = getattr(part, "reseed", None)
                if callable(reseed):
                    reseed(s)
            return self.dataset[index]


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning checkpoints (``state_dict``) and restores mid-epoch.

    ``progress`` returns how many batches of the current epoch the trainer has finished; the module sets
    it when training starts, because the loader itself cannot tell prefetched batches from trained ones.
    """

    progress: Callable[[], int] | None = None

    def state_dict(self) -> dict[str, int]:
        sampler = self.sampler
        done = int(self.progress()) if self.progress is not None else 0
        return {"epoch": int(getattr(sampler, "epoch", 0)), "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if isinstance(self.sampler, EpochWeightedSampler) and self.batch_size:
            self.sampler.resume(state["epoch"], state["batches_done"] * self.batch_size)

"""The training sampler under DDP: disjoint rank shares, a new draw each epoch, mid-epoch resume per rank."""

from __future__ import annotations

import torch
from torch.utils.data import DistributedSampler

from fusionlab.data.sampling import EpochWeightedSampler, ResumableDataLoader


def _draws(sampler: EpochWeightedSampler, epoch: int) -> list[tuple[int, int, int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_ranks_share_one_epoch_sequence_without_overlap():
    weights = torch.ones(50)
    full = _draws(EpochWeightedSampler(weights, 20, seed=3), 1)
    ranks = [_draws(EpochWeightedSampler(weights, 20, seed=3, num_replicas=2, rank=r), 1) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 10
    assert sorted(ranks[0] + ranks[1]) == sorted(full)  # together exactly the single-process epoch
    assert not {d[1] for d in ranks[0]} & {d[1] for d in ranks[1]}


def test_lightning_leaves_the_sampler_unwrapped_and_it_follows_the_epoch():
    sampler = EpochWeightedSampler(torch.ones(50), 16, seed=0, num_replicas=2, rank=1)
    assert isinstance(sampler, DistributedSampler)  # Lightning wraps only samplers that are not
    assert [d[2] for d in _draws(sampler, 0)] != [d[2] for d in _draws(sampler, 1)]


def test_mid_epoch_resume_skips_this_ranks_trained_batches():
    sampler = EpochWeightedSampler(torch.ones(50), 24, seed=1, num_replicas=2, rank=1)
    loader = ResumableDataLoader(list(range(50)), batch_size=4, sampler=sampler, collate_fn=lambda b: b)
    uninterrupted = _draws(sampler, 2)
    loader.load_state_dict({"epoch": 2, "batches_done": 2})
    assert _draws(sampler, 2) == uninterrupted[8:]

"""fusionlab.engine.distributed: a rank whose collective failed because a peer is gone waits, then says so (the
two-rank test in test_ddp.py checks the effect: the failing rank's own error is the one reported)."""

from __future__ import annotations

import time

import pytest
import torch.distributed as dist

from fusionlab.engine.distributed import is_peer_failure, peer_failure_grace

GLOO_PEER_GONE = "[gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:2481"


def test_peer_failures_are_told_from_own_errors():
    assert is_peer_failure(RuntimeError(GLOO_PEER_GONE))
    assert is_peer_failure(RuntimeError("... typically caused by a remote worker crashing ..."))
    assert not is_peer_failure(RuntimeError("shape mismatch"))
    assert not is_peer_failure(ValueError(GLOO_PEER_GONE))


def test_without_a_process_group_errors_pass_through_at_once():
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="^" + GLOO_PEER_GONE.replace("[", r"\[").replace("]", r"\]") + "$"):
        with peer_failure_grace("the sync", seconds=5.0):
            raise RuntimeError(GLOO_PEER_GONE)
    assert time.perf_counter() - start < 1.0


def test_in_a_process_group_a_peer_failure_waits_and_names_it(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        start = time.perf_counter()
        with pytest.raises(RuntimeError, match="rank 0: the sync failed because another rank stopped first") as info:
            with peer_failure_grace("the sync", seconds=0.3):
                raise RuntimeError(GLOO_PEER_GONE)
        assert time.perf_counter() - start >= 0.3
        assert isinstance(info.value.__cause__, RuntimeError) and GLOO_PEER_GONE in str(info.value)
        with pytest.raises(RuntimeError, match="^shape mismatch$"):  # this rank's own error: at once, unchanged
            with peer_failure_grace("the sync", seconds=5.0):
                raise RuntimeError("shape mismatch")
    finally:
        dist.destroy_process_group()

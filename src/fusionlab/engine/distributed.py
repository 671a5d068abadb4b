"""How a rank fails when another rank failed first: late, and saying so.

Under ``ddp_spawn`` the launcher reports the error of the first worker process it sees exit. When one rank raises
(a bad image, a bug in a metric), its peers only learn of it at their next collective operation (the metric sync
at epoch end), which fails with a transport error ("Connection closed by peer"). If a peer exits quickly enough,
the launcher reports that transport error and the cause is lost: measured on the two-rank gloo test, 1 run in 5.
:func:`peer_failure_grace` makes a rank whose collective operation failed that way wait a moment before it raises,
so the rank that failed first is the one reported, and its own error names what happened.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist

# Transport errors of a collective whose peer has gone (gloo, NCCL): not this rank's own failure.
PEER_GONE_MARKERS = ("Connection closed by peer", "Connection reset by peer", "remote worker",
                     "NCCL communicator was aborted")
GRACE_SECONDS = 3.0


def is_peer_failure(err: BaseException) -> bool:
    """True for the error a collective raises because another rank's process is gone."""
    return isinstance(err, RuntimeError) and any(marker in str(err) for marker in PEER_GONE_MARKERS)


@contextmanager
def peer_failure_grace(what: str, seconds: float = GRACE_SECONDS) -> Iterator[None]:
    """Run a block of collective operations (``what`` names them); if one fails because a peer is gone, wait
    ``seconds`` and raise an error that says another rank failed first. Other errors pass through at once."""
    try:
        yield
    except RuntimeError as err:
        if not (is_peer_failure(err) and dist.is_available() and dist.is_initialized()):
            raise
        rank = dist.get_rank()
        time.sleep(seconds)  # the failed rank's process exits first: the launcher reports its error, not this one
        raise RuntimeError(f"rank {rank}: {what} failed because another rank stopped first; that rank's error is "
                           f"the cause ({err})") from err

"""Run these tests single-threaded: they are many small float64 tensor ops, and on a shared 2-core CPU torch's
intra-op threads spend more time waiting for each other than computing (measured: 18 s with one thread,
166 s with two, for tests/metrics + tests/baselines under load). The previous setting is restored after.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

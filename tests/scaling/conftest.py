"""Scaling tests compare runs bit for bit across processes (a killed subprocess, DDP workers with one thread
each): the in-process parts must use the same single intra-op thread, or float reductions round differently
(a 2e-5 drift in EN was measured between 1 and 2 threads). The previous setting is restored after."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

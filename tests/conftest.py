"""Shared test fixtures: offline environment, the real shared data, and config composition."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$FUSIONLAB_DATA`` or ``../shared/data`` beside the repository (CI has it)."""
    path = Path(os.environ.get("FUSIONLAB_DATA") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        raise FileNotFoundError(f"real sample data not found at {path}: set FUSIONLAB_DATA")
    return path


@pytest.fixture
def data_dir() -> Path:
    return shared_data_dir()


# Folders whose tests run on one intra-op thread:
# - metrics, baselines: many small float64 ops; on a shared 2-core CPU two threads mostly wait for each other
#   (measured 18 s with one thread, 166 s with two, under load);
# - scaling: runs are compared bit for bit across processes (a killed subprocess, DDP workers with one thread
#   each), and float reductions round differently with another thread count (2e-5 drift in EN measured).
SINGLE_THREAD_DIRS = {"metrics", "baselines", "scaling"}


@pytest.fixture(autouse=True)
def _seed_and_threads(request):
    torch.manual_seed(0)
    previous = torch.get_num_threads()
    if request.node.path.parent.name in SINGLE_THREAD_DIRS:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def compose(tmp_path):
    """Compose the real config with CLI-style overrides; the run folder is a temporary directory."""
    from fusionlab.config import compose as _compose

    def _do(*overrides: str, output_dir: Path | None = None):
        return _compose(list(overrides), output_dir=output_dir or tmp_path / "run")

    return _do

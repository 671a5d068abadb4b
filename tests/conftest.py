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


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def compose(tmp_path):
    """Compose the real config with CLI-style overrides; the run folder is a temporary directory."""
    from fusionlab.config import compose as _compose

    def _do(*overrides: str, output_dir: Path | None = None):
        return _compose(list(overrides), output_dir=output_dir or tmp_path / "run")

    return _do

"""Fixtures for running the documented commands: a user's working folder with the files the docs name, random
DINOv3 weights, and a place for the miniature of the real sample data (helpers: doc_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_helpers import REPO


@pytest.fixture
def workspace(tmp_path) -> Path:
    """The folder a user runs the commands from: a clone's files the docs name by relative path (studies,
    sweep specs), and nothing else (no ``data/``, so ``paths.data_dir`` holds nothing: the embedded suite)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("experiments", "sweeps"):
        (ws / name).symlink_to(REPO / name)
    return ws


@pytest.fixture(scope="session")
def dinov3_weights(tmp_path_factory) -> Path:
    """A random-init ViT-S/16 DINOv3 state dict as a .safetensors file (Meta's weights are never shipped)."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    vit = timm.create_model("vit_small_patch16_dinov3", pretrained=False, num_classes=0)
    path = tmp_path_factory.mktemp("weights") / "dinov3_vits16.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="session")
def mini_data_root(tmp_path_factory) -> Path:
    """Where the miniature of the real sample data is built (once per session, on first use)."""
    return tmp_path_factory.mktemp("mini_data") / "data"

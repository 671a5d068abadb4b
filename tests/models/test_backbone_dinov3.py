"""DINOv3 adapter: local weights load after the adapter's own init and survive bit for bit; bad files name the
path and the keys; the ViT stays frozen and in eval mode; inputs are normalised with ImageNet mean and std."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from fusionlab.models.backbones import DINOv3Backbone
from fusionlab.models.backbones.dinov3 import IMAGENET_MEAN, IMAGENET_STD

TINY = {"vit_kwargs": {"embed_dim": 32, "depth": 4, "num_heads": 2}, "indices": (0, 1, 2, 3), "width": 4}


def _random_vit_weights() -> dict[str, torch.Tensor]:
    """The real key layout of the tiny ViT, every tensor random (so that no default init could match it)."""
    sd = DINOv3Backbone(**TINY).vit.state_dict()
    g = torch.Generator().manual_seed(7)
    return {k: torch.randn(v.shape, generator=g).to(v.dtype) for k, v in sd.items()}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_load_after_init_and_survive_bit_for_bit(tmp_path, suffix):
    weights = _random_vit_weights()
    path = tmp_path / f"vit{suffix}"
    if suffix == ".safetensors":
        save_file(weights, str(path))
    else:
        torch.save({"model": weights}, path)  # wrapped, as training checkpoints often are
    backbone = DINOv3Backbone(weights=str(path), **TINY)
    loaded = backbone.vit.state_dict()
    assert loaded.keys() == weights.keys()
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)
    backbone.train()  # mode switches must not touch them either
    backbone(torch.rand(1, 1, 32, 32))
    assert all(torch.equal(backbone.vit.state_dict()[k], weights[k]) for k in weights)


def test_missing_weights_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "dinov3.safetensors"
    with pytest.raises(FileNotFoundError, match=str(path)):
        DINOv3Backbone(weights=str(path), **TINY)


def test_mismatched_keys_are_named(tmp_path):
    weights = _random_vit_weights()
    del weights["blocks.2.attn.qkv.weight"]
    weights["blocks.9.attn.qkv.weight"] = torch.zeros(1)
    path = tmp_path / "bad.safetensors"
    save_file(weights, str(path))
    with pytest.raises(ValueError, match=r"bad\.safetensors") as err:
        DINOv3Backbone(weights=str(path), **TINY)
    msg = str(err.value)
    assert (
        "missing keys: blocks.2.attn.qkv.weight" in msg and "unexpected keys: blocks.9.attn.qkv.weight" in msg
    )


def test_wrong_architecture_reports_shape_mismatches(tmp_path):
    path = tmp_path / "wide.safetensors"
    wide = DINOv3Backbone(
        vit_kwargs={"embed_dim": 64, "depth": 4, "num_heads": 2}, indices=(0, 1, 2, 3), width=4
    )
    save_file(wide.vit.state_dict(), str(path))
    with pytest.raises(
        ValueError, match=r"shape mismatches: blocks\.0\.attn\.proj\.bias: file \(64,\) vs model \(32,\)"
    ):
        DINOv3Backbone(weights=str(path), **TINY)


def test_frozen_vit_stays_in_eval_mode_and_has_no_gradients():
    backbone = DINOv3Backbone(**TINY).train()
    assert backbone.training and backbone.stem.training
    assert not any(m.training for m in backbone.vit.modules())
    assert not any(p.requires_grad for p in backbone.vit.parameters())


def test_luminance_is_replicated_and_normalised_with_imagenet_mean_and_std():
    backbone = DINOv3Backbone(**TINY).eval()
    seen = {}

    def keep_input(module, inputs, output):
        seen["x"] = inputs[0]

    backbone.vit.patch_embed.register_forward_hook(keep_input)
    backbone(torch.full((1, 1, 32, 32), 0.5))
    expected = (0.5 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(seen["x"][0, :, 0, 0], expected)


def test_bad_indices_are_rejected():
    with pytest.raises(ValueError, match="indices"):
        DINOv3Backbone(vit_kwargs=TINY["vit_kwargs"], indices=(0, 1, 9))

"""A DINOv3 ViT (timm) as a frozen feature prior, with a trainable adapter that makes a fusion pyramid.

Design points (UniFusion lineage, with its pitfalls fixed - see ``research/methods.md`` §3.1):

* The ViT is built with ``pretrained=False`` (never a hub download); ``weights=PATH`` loads a local
  ``.safetensors`` / ``.pth`` file (timm or Meta key layout) **after** the adapter's own initialisation, so no
  init routine can overwrite the foundation weights (UniFusion's released code does exactly that).
* Frozen by default: no gradients and eval mode for every ViT module even when the backbone is put in train
  mode; ``fine_tune_blocks=N`` unfreezes the last N *used* blocks (and the final norm applied to the taps).
* Luminance is replicated to 3 channels and normalised with the ImageNet mean *and* std.
* Tokens of the tapped blocks (default 2/5/8/11) become maps at 1/16, projected and resampled DPT-style to
  1/4, 1/8 and 1/16; a shallow CNN stem supplies full- and half-resolution detail and is added in at 1/4.
* Inputs are padded (reflect) to the patch multiple and every level is cropped back.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.models.backbones.base import Backbone
from fusionlab.models.backbones.cnn import conv_act

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".pth", ".pt", ".bin"):
        sd = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("model_ema", "model", "module", "state_dict", "teacher"):  # common checkpoint wrappers
            if isinstance(sd, dict) and isinstance(sd.get(key), dict):
                sd = sd[key]
        return sd
    raise ConfigError(
        f"DINOv3 weights {path}: expected a .safetensors or .pth file, got suffix {path.suffix!r}"
    )


def _preview(keys: Sequence[str], n: int = 8) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_vit_weights(vit: nn.Module, path: str | Path) -> None:
    """Load a local checkpoint into a timm ViT, strictly: a missing file, missing or unexpected keys, or
    shape mismatches raise an error that names the path and the keys. Meta-format DINOv3 keys are converted
    with timm's own filter for the model family; classifier-head keys are ignored (the adapter has none)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"DINOv3 weights file not found: {path}")
    sd = _read_state_dict(path)
    convert = getattr(sys.modules[type(vit).__module__], "checkpoint_filter_fn", None)
    if convert is not None:
        sd = convert(sd, vit)
    sd = {k: v for k, v in sd.items() if not k.startswith("head.")}
    own = vit.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in sd and sd[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"DINOv3 weights {path} do not match {type(vit).__name__} (embed_dim {getattr(vit, 'embed_dim', '?')})"
        ]
        if missing:
            parts.append(f"missing keys: {_preview(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_preview(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {_preview(shapes, 4)}")
        raise ConfigError("; ".join(parts))
    vit.load_state_dict(sd, strict=True)


def _up_factors(n: int) -> list[int]:
    """Resampling factor of each of n >= 3 tapped blocks, earliest first: DPT's 4x, 2x, 1x (and 1x for a fourth
    tap, merged with the third at 1/16); extra early taps also go to 4x."""
    return [4, 2, 1] if n == 3 else [4] * (n - 3) + [2, 1, 1]


class DINOv3Backbone(Backbone):
    """Frozen DINOv3 ViT + adapter. Levels (channels at ``width`` w): full res w, 1/2 2w (CNN stem), then one
    level per distinct resampling factor of the taps (default 1/4 4w, 1/8 4w, 1/16 8w)."""

    def __init__(
        self,
        model_name: str = "vit_small_patch16_dinov3",
        weights: str | None = None,
        indices: Sequence[int] = (2, 5, 8, 11),
        fine_tune_blocks: int = 0,
        width: int = 16,
        vit_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        import timm  # deferred: importing timm (and torchvision) costs seconds, only this backbone needs it

        self.vit = timm.create_model(model_name, pretrained=False, num_classes=0, **dict(vit_kwargs or {}))
        if not hasattr(self.vit, "forward_intermediates") or not hasattr(self.vit, "blocks"):
            raise ConfigError(f"DINOv3Backbone: {model_name} is not a ViT with forward_intermediates")
        depth = len(self.vit.blocks)
        self.indices = sorted(int(i) for i in indices)
        if (
            len(self.indices) < 3
            or self.indices[0] < 0
            or self.indices[-1] >= depth
            or len(set(self.indices)) != len(self.indices)
        ):
            raise ConfigError(
                f"DINOv3Backbone: indices {list(indices)} must be at least 3 distinct blocks in [0, {depth - 1}]"
                " (one per ViT level: 1/4, 1/8, 1/16)"
            )
        if not 0 <= fine_tune_blocks <= self.indices[-1] + 1:
            raise ConfigError(
                f"DINOv3Backbone: fine_tune_blocks must be in [0, {self.indices[-1] + 1}], got {fine_tune_blocks}"
            )
        self.patch = int(self.vit.patch_embed.patch_size[0])
        if self.patch % 4:
            raise ConfigError(f"DINOv3Backbone: patch size {self.patch} must be divisible by 4")
        embed = int(self.vit.embed_dim)
        w = width

        # adapter: CNN stem for pixel detail + DPT-style reassembly of the taps
        self.stem = nn.Sequential(conv_act(1, w), conv_act(w, w))
        self.stem_down = conv_act(w, 2 * w, stride=2)
        self.stem_quarter = conv_act(2 * w, 4 * w, stride=2)
        ups = _up_factors(len(self.indices))
        self.groups = [[j for j, u in enumerate(ups) if u == f] for f in sorted(set(ups), reverse=True)]
        vit_chans = [4 * w] * (len(self.groups) - 1) + [8 * w]
        self.project = nn.ModuleList(
            nn.Conv2d(embed, vit_chans[g], 1) for g, grp in enumerate(self.groups) for _ in grp
        )
        self.resample = nn.ModuleList()
        self.merge = nn.ModuleList()
        for g, grp in enumerate(self.groups):
            f, c = ups[grp[0]], vit_chans[g]
            self.resample.append(nn.ConvTranspose2d(c, c, f, f) if f > 1 else nn.Identity())
            self.merge.append(conv_act(c * len(grp), c))
        adapter = [self.stem, self.stem_down, self.stem_quarter, self.project, self.resample, self.merge]
        for m in adapter:
            m.apply(_init_adapter)

        # foundation weights last, so that nothing above can re-initialise them
        if weights:
            load_vit_weights(self.vit, weights)
        self.fine_tune_blocks = fine_tune_blocks
        self.vit.requires_grad_(False)
        for m in self._tuned_vit_modules():
            m.requires_grad_(True)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        self.out_channels = [w, 2 * w, *vit_chans]
        self.reductions = [1, 2, *(self.patch // ups[grp[0]] for grp in self.groups)]
        self.size_multiple = self.patch
        self.min_size = self.patch
        self.train()
        self.check_declarations()

    def _tuned_vit_modules(self) -> list[nn.Module]:
        n = self.fine_tune_blocks
        if n == 0:
            return []
        last = self.indices[-1]
        return [*self.vit.blocks[last + 1 - n : last + 1], self.vit.norm]

    def train(self, mode: bool = True) -> DINOv3Backbone:
        """Frozen ViT modules stay in eval mode (norms, dropout, drop-path) whatever the mode asked for."""
        super().train(mode)
        self.vit.eval()
        for m in self._tuned_vit_modules():
            m.train(mode)
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:
            raise ConfigError(
                f"DINOv3Backbone: input {h}x{w} is smaller than the minimum size {self.min_size}x{self.min_size}"
            )
        p = self.patch
        ph, pw = (-h) % p, (-w) % p
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        rgb = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        # a fully frozen ViT runs without autograd: no graph, no saved activations
        with nullcontext() if self.fine_tune_blocks else torch.no_grad():
            taps = self.vit.forward_intermediates(
                rgb, indices=self.indices, norm=True, output_fmt="NCHW", intermediates_only=True
            )
        f0 = self.stem(x)
        f1 = self.stem_down(f0)
        feats = [f0, f1]
        projected = [proj(t.to(f0.dtype)) for proj, t in zip(self.project, taps)]
        for g, grp in enumerate(self.groups):
            level = self.merge[g](torch.cat([self.resample[g](projected[j]) for j in grp], 1))
            if g == 0:
                level = level + self.stem_quarter(f1)
            feats.append(level)
        return [f[..., : -(-h // r), : -(-w // r)] for f, r in zip(feats, self.reductions)]


def _init_adapter(m: nn.Module) -> None:
    """The adapter's own init (Kaiming for the leaky-ReLU convs); applied to adapter modules only."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)

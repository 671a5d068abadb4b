"""A Restormer-style transformer backbone (the blocks CDDFuse and UniFusion build on).

Each block is pre-norm ``x + Attn(LN(x))``, ``x + GDFN(LN(x))``:

* **MDTA** (default, ``attention="channel"``): queries, keys and values come from a 1x1 conv followed by a
  depthwise 3x3 conv (local context, and the only position signal); attention is between *channels*
  (a (C/h x C/h) map per head, with L2-normalised q, k and a learned temperature), so cost is linear in the
  pixel count and full-resolution fusion of 640x480 images is affordable.
* **Shifted windows** (``attention="window"``): spatial multi-head attention inside ``window_size`` windows,
  every second block of a level shifted by half a window (Swin); same depthwise-conv q/k/v. Inputs of any size
  are padded to the window inside the block and masked, so no size constraint leaks out.
* **GDFN**: 1x1 expand to two branches, depthwise 3x3, ``GELU(a) * b``, 1x1 back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.models.backbones.base import Backbone
from fusionlab.models.backbones.cnn import conv_act


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (Restormer's "to_3d, LN, to_4d"), without importing timm."""

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps
        ).permute(0, 3, 1, 2)


def _qkv(dim: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(dim, 3 * dim, 1, bias=bias), nn.Conv2d(3 * dim, 3 * dim, 3, 1, 1, groups=3 * dim, bias=bias)
    )


class ChannelAttention(nn.Module):
    """MDTA: multi-head transposed (channel-to-channel) attention."""

    def __init__(self, dim: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = _qkv(dim, bias)
        self.proj = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in self.qkv(x).chunk(3, 1))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(-1)
        return self.proj((attn @ v).reshape(b, c, h, w))


def _window_labels(size: int, real: int, window: int, shift: int) -> Tensor:
    """Per position along one axis of the padded, rolled grid: 0 = real, 1 = wrapped round by the roll,
    2 = padding. Tokens may attend to each other only when their labels agree on both axes."""
    i = torch.arange(size)
    orig = (i + shift) % size
    labels = (i + shift >= size).long()
    return torch.where(orig >= real, torch.full_like(labels, 2), labels)


class WindowAttention(nn.Module):
    """(Shifted-)window multi-head self-attention over pixels, padded and masked for any input size."""

    def __init__(
        self, dim: int, heads: int, window: int = 8, shift: bool = False, bias: bool = False
    ) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.shift = window // 2 if shift else 0
        self.qkv = _qkv(dim, bias)
        self.proj = nn.Conv2d(dim, dim, 1, bias=bias)

    def _mask(self, hp: int, wp: int, h: int, w: int, device: torch.device) -> Tensor | None:
        if not self.shift and hp == h and wp == w:
            return None
        ws = self.window
        rows = _window_labels(hp, h, ws, self.shift)
        cols = _window_labels(wp, w, ws, self.shift)
        lab = (rows[:, None] * 3 + cols[None, :]).view(hp // ws, ws, wp // ws, ws).permute(0, 2, 1, 3)
        lab = lab.reshape(-1, ws * ws)  # (windows, tokens)
        return (lab[:, :, None] == lab[:, None, :]).unsqueeze(1).to(device)  # (windows, 1, tokens, tokens)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        ws, s, nh = self.window, self.shift, self.heads
        qkv = self.qkv(x)
        qkv = F.pad(qkv, (0, (-w) % ws, 0, (-h) % ws))
        hp, wp = qkv.shape[-2:]
        if s:
            qkv = qkv.roll((-s, -s), (2, 3))
        # (b, 3, heads, hd, Hw, ws, Ww, ws) -> (3, b, windows, heads, ws*ws, hd)
        t = qkv.view(b, 3, nh, c // nh, hp // ws, ws, wp // ws, ws).permute(1, 0, 4, 6, 2, 5, 7, 3)
        q, k, v = t.reshape(3, b, (hp // ws) * (wp // ws), nh, ws * ws, c // nh).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self._mask(hp, wp, h, w, x.device))
        out = (
            out.view(b, hp // ws, wp // ws, nh, ws, ws, c // nh)
            .permute(0, 3, 6, 1, 4, 2, 5)
            .reshape(b, c, hp, wp)
        )
        if s:
            out = out.roll((s, s), (2, 3))
        return self.proj(out[..., :h, :w])


class GDFN(nn.Module):
    """Gated-dconv feed-forward network."""

    def __init__(self, dim: int, expansion: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = max(1, int(dim * expansion))
        self.proj_in = nn.Conv2d(dim, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, 1, 1, groups=2 * hidden, bias=bias)
        self.proj_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        a, g = self.dwconv(self.proj_in(x)).chunk(2, 1)
        return self.proj_out(F.gelu(a) * g)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, expansion: float, attn: nn.Module) -> None:
        super().__init__()
        self.norm1, self.attn = LayerNorm2d(dim), attn
        self.norm2, self.ffn = LayerNorm2d(dim), GDFN(dim, expansion)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class RestormerBackbone(Backbone):
    """Three levels, widths (w, 2w, 3w) at reductions (1, 2, 4): a 3x3 conv embedding, then ``depths[i]``
    transformer blocks per level with ``heads[i]`` heads; stride-2 convs between levels."""

    def __init__(
        self,
        width: int = 16,
        depths: tuple[int, ...] | list[int] = (1, 1, 2),
        heads: tuple[int, ...] | list[int] = (1, 2, 4),
        ffn_expansion: float = 2.66,
        attention: str = "channel",
        window_size: int = 8,
        bias: bool = False,
    ) -> None:
        super().__init__()
        depths, heads = list(depths), list(heads)
        chans = [width, 2 * width, 3 * width]
        if attention not in ("channel", "window"):
            raise ConfigError(f"RestormerBackbone: attention must be 'channel' or 'window', got {attention!r}")
        if len(depths) != 3 or len(heads) != 3 or min(depths) < 0 or min(heads) < 1:
            raise ConfigError(
                f"RestormerBackbone: need three depths >= 0 and three heads >= 1, got {depths}, {heads}"
            )
        if any(c % h for c, h in zip(chans, heads)):
            raise ConfigError(f"RestormerBackbone: level widths {chans} must be divisible by heads {heads}")
        if attention == "window" and window_size < 2:
            raise ConfigError(f"RestormerBackbone: window_size must be >= 2, got {window_size}")

        def block(c: int, nh: int, i: int) -> TransformerBlock:
            attn: nn.Module = (
                ChannelAttention(c, nh, bias)
                if attention == "channel"
                else WindowAttention(c, nh, window_size, shift=i % 2 == 1, bias=bias)
            )
            return TransformerBlock(c, nh, ffn_expansion, attn)

        self.embed = nn.Conv2d(1, chans[0], 3, 1, 1, bias=bias)
        self.levels = nn.ModuleList(
            nn.Sequential(
                *([] if lvl == 0 else [conv_act(chans[lvl - 1], chans[lvl], stride=2)]),
                *(block(chans[lvl], heads[lvl], i) for i in range(depths[lvl])),
            )
            for lvl in range(3)
        )
        self.out_channels = chans
        self.reductions = [1, 2, 4]
        self.size_multiple = 4
        self.min_size = 4
        self.check_declarations()

    def forward(self, x: Tensor) -> list[Tensor]:
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:
            raise ConfigError(
                f"RestormerBackbone: input {h}x{w} is smaller than the minimum size {self.min_size}x{self.min_size}"
            )
        feats, f = [], self.embed(x)
        for level in self.levels:
            f = level(f)
            feats.append(f)
        return feats

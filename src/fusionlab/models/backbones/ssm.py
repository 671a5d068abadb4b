"""A Mamba-style state-space backbone (VMamba lineage): convolutions at full and half resolution, 2-D
selective-scan (SS2D) blocks at 1/4 and 1/8.

SS2D makes a 1-D causal scan see the whole image: the feature map is read in four orders (rows, columns, and
both reversed), each order gets its own input-dependent delta, B and C, the four scans run as one grouped
selective scan, and the four outputs are put back in place and summed. Cost is linear in pixel count. The scan
itself lives in :mod:`~fusionlab.models.backbones.selective_scan` (PyTorch, or the ``mamba_ssm`` kernel on CUDA
when ``use_cuda_kernel`` is set).

Sequences are long (a 256x256 image gives 16k tokens at 1/2, 4k at 1/4), so the two finest levels stay
convolutional and the state is small (``d_state=4`` by default; VMamba v2 even uses 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.models.backbones.base import Backbone
from fusionlab.models.backbones.cnn import conv_act
from fusionlab.models.backbones.selective_scan import selective_scan
from fusionlab.models.backbones.transformer import LayerNorm2d

DIRECTIONS = 4


def cross_scan(x: Tensor) -> Tensor:
    """(b, c, h, w) -> (b, 4, c, h*w): row-major, column-major, and both reversed."""
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    return torch.stack((rows, cols, rows.flip(-1), cols.flip(-1)), 1)


def cross_merge(y: Tensor, h: int, w: int) -> Tensor:
    """Inverse of :func:`cross_scan` followed by a sum over the four directions: (b, 4, c, h*w) -> (b, c, h, w)."""
    b, _, c, _ = y.shape
    rows = y[:, 0] + y[:, 2].flip(-1)
    cols = (y[:, 1] + y[:, 3].flip(-1)).view(b, c, w, h).transpose(2, 3)
    return rows.view(b, c, h, w) + cols


class SS2D(nn.Module):
    """Gated selective-scan mixer: 1x1 in-projection to (x, z); depthwise 3x3 + SiLU on x; four-direction
    selective scan; norm; gate by SiLU(z); 1x1 out-projection."""

    def __init__(
        self,
        dim: int,
        d_state: int = 4,
        expand: float = 1.0,
        dt_rank: int | str = "auto",
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        chunk_size: int | None = None,
        use_cuda_kernel: bool = False,
    ) -> None:
        super().__init__()
        d_inner = max(1, int(expand * dim))
        rank = math.ceil(dim / 16) if dt_rank == "auto" else int(dt_rank)
        k = DIRECTIONS
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, rank
        self.chunk_size, self.use_cuda_kernel = chunk_size, use_cuda_kernel
        self.in_proj = nn.Conv2d(dim, 2 * d_inner, 1)
        self.dwconv = nn.Conv2d(d_inner, d_inner, 3, 1, 1, groups=d_inner)
        # per direction: x -> (dt_low_rank, B, C); dt_low_rank -> delta per channel
        bound = d_inner**-0.5
        self.x_proj_weight = nn.Parameter(torch.empty(k, rank + 2 * d_state, d_inner).uniform_(-bound, bound))
        self.dt_proj_weight = nn.Parameter(torch.empty(k, d_inner, rank).uniform_(-(rank**-0.5), rank**-0.5))
        # Mamba's delta init: softplus(bias) ~ log-uniform in [dt_min, dt_max], so early scans neither forget
        # everything nor nothing
        dt = torch.exp(torch.rand(k, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.dt_proj_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        # S4D-real init: A = -(1..N) per channel, stored as log for positivity
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(k * d_inner, 1)
        self.A_log = nn.Parameter(a.log())
        self.D = nn.Parameter(torch.ones(k * d_inner))
        self.out_norm = LayerNorm2d(d_inner)
        self.out_proj = nn.Conv2d(d_inner, dim, 1)

    def scan(self, x: Tensor) -> Tensor:
        b, d, h, w = x.shape
        k, n, r = DIRECTIONS, self.d_state, self.dt_rank
        xs = cross_scan(x)  # (b, k, d, l)
        proj = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)
        dts, bs, cs = proj.split((r, n, n), 2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_proj_weight)
        y = selective_scan(
            xs.reshape(b, k * d, -1),
            dts.reshape(b, k * d, -1),
            -self.A_log.float().exp(),
            bs.contiguous(),
            cs.contiguous(),
            self.D,
            delta_bias=self.dt_proj_bias.flatten(),
            delta_softplus=True,
            chunk_size=self.chunk_size,
            use_cuda_kernel=self.use_cuda_kernel,
        )
        return cross_merge(y.view(b, k, d, -1), h, w)

    def forward(self, x: Tensor) -> Tensor:
        x, z = self.in_proj(x).chunk(2, 1)
        x = F.silu(self.dwconv(x))
        y = self.out_norm(self.scan(x).to(z.dtype))
        return self.out_proj(y * F.silu(z))


class VSSBlock(nn.Module):
    """Pre-norm residual block: x + SS2D(LN(x)), then x + MLP(LN(x)) when ``mlp_ratio`` > 0."""

    def __init__(self, dim: int, mlp_ratio: float = 2.0, **ss2d: object) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.mixer = SS2D(dim, **ss2d)  # type: ignore[arg-type]
        hidden = int(dim * mlp_ratio)
        self.mlp = (
            nn.Sequential(LayerNorm2d(dim), nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))
            if hidden > 0
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm(x))
        return x + self.mlp(x) if self.mlp is not None else x


class SSMBackbone(Backbone):
    """Four levels, widths (w, 2w, 3w, 4w) at reductions (1, 2, 4, 8): convolutional at full and half
    resolution (where sequences would be 4-16x longer and the scan dominates the cost), then at 1/4 and 1/8 a
    stride-2 conv followed by ``depths[i]`` VSS blocks, which give every pixel a global receptive field."""

    def __init__(
        self,
        width: int = 16,
        depths: tuple[int, int] | list[int] = (1, 1),
        d_state: int = 4,
        expand: float = 1.0,
        mlp_ratio: float = 2.0,
        dt_rank: int | str = "auto",
        chunk_size: int | None = None,
        use_cuda_kernel: bool = False,
    ) -> None:
        super().__init__()
        depths = list(depths)
        if width < 1 or len(depths) != 2 or min(depths) < 0 or d_state < 1:
            raise ConfigError(
                f"SSMBackbone: need width >= 1, two depths >= 0 and d_state >= 1 (got {width}, {depths}, {d_state})"
            )
        chans = [width, 2 * width, 3 * width, 4 * width]
        ss2d = dict(
            d_state=d_state,
            expand=expand,
            dt_rank=dt_rank,
            chunk_size=chunk_size,
            use_cuda_kernel=use_cuda_kernel,
        )
        self.stem = nn.Sequential(conv_act(1, chans[0]), conv_act(chans[0], chans[0]))
        self.level1 = nn.Sequential(conv_act(chans[0], chans[1], stride=2), conv_act(chans[1], chans[1]))
        self.stages = nn.ModuleList(
            nn.Sequential(
                conv_act(chans[i + 1], chans[i + 2], stride=2),
                *(VSSBlock(chans[i + 2], mlp_ratio, **ss2d) for _ in range(depths[i])),
            )
            for i in range(2)
        )
        self.out_channels = chans
        self.reductions = [1, 2, 4, 8]
        self.size_multiple = 8
        self.min_size = 8
        self.check_declarations()

    def forward(self, x: Tensor) -> list[Tensor]:
        check_min_size(self, x)
        feats = [self.stem(x)]
        feats.append(self.level1(feats[-1]))
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


def check_min_size(backbone: Backbone, x: Tensor) -> None:
    """Raise a readable error for inputs below the backbone's ``min_size`` (instead of a conv/reshape error)."""
    m = getattr(backbone, "min_size", 1)
    h, w = x.shape[-2:]
    if h < m or w < m:
        raise ConfigError(f"{type(backbone).__name__}: input {h}x{w} is smaller than the minimum size {m}x{m}")

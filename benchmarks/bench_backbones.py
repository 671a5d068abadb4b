"""Complexity table of FusionNet with each backbone at its default config (conf/model/backbone/<name>.yaml).

    python benchmarks/bench_backbones.py                         # all backbones, 3 repeats
    python benchmarks/bench_backbones.py --backbones ssm cnn --repeat 5 --threads 2
    python benchmarks/bench_backbones.py --train 256             # also a training step (Adam, L1) at 256x256, batch 2

Columns: total and trainable parameters of the whole FusionNet; FLOPs of one fused pair (both encoder passes,
fusers, decoder) counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-add; it counts
matmuls, convolutions and attention only, so the SSM's elementwise scan is *not* in its FLOPs); median CPU
forward latency of one 640x480 pair in fp32 and under bf16 autocast, after one warm-up (median / best of
``--repeat``: on a shared CPU the best run is the steadier measure of the code). The DINOv3 ViT is
random (no weights are shipped), which does not change its cost. The last row is the default recipe's model
(``+experiment=ivif_zero_shot``), with its two-scale head, rather than conf/model's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as the entry points set it (fusionlab.cli); before torch

import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from fusionlab.models import FusionNet  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf" / "model" / "backbone"
VARIANTS: dict[str, tuple[str, dict]] = {
    "cnn": ("cnn", {}),
    "ssm": ("ssm", {}),
    "transformer": ("transformer", {}),
    "transformer-window": ("transformer", {"attention": "window"}),
    "dinov3": ("dinov3", {}),
}
# The default recipe's whole model (``+experiment=ivif_zero_shot``: CNN, two-scale head with its activity priors and
# two-band base blend), whose 640x480 bf16 latency issue 12 bounds (<= 0.25 s); the rows above use conf/model's head.
RECIPE = "cnn (default recipe)"


def build_recipe() -> FusionNet:
    from fusionlab.config import compose

    cfg = compose(["+experiment=ivif_zero_shot"], output_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "bench_recipe")
    return instantiate(cfg.model).eval()


def build(variant: str) -> FusionNet:
    if variant == RECIPE:
        return build_recipe()
    option, overrides = VARIANTS[variant]
    cfg = OmegaConf.merge(OmegaConf.load(CONF / f"{option}.yaml"), overrides)
    channels_last = bool(OmegaConf.load(CONF.parent / "fusion_net.yaml").channels_last)  # the default model config
    return FusionNet(instantiate(cfg), channels_last=channels_last).eval()


def gflops(net: FusionNet, h: int, w: int) -> float:
    a = torch.rand(1, 1, h, w)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(a, a)
    return counter.get_total_flops() / 1e9


def median_best(times: list[float]) -> str:
    """Median as asked, and the best run, which is what the code costs when the shared CPU is quiet."""
    return f"{statistics.median(times):.3f} / {min(times):.3f}"


def latency(net: FusionNet, h: int, w: int, repeat: int, bf16: bool) -> str:
    a, b = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeat + 1):
            t0 = time.perf_counter()
            net(a, b)
            if i:  # the first run is a warm-up (allocator, oneDNN primitives)
                times.append(time.perf_counter() - t0)
    return median_best(times)


def train_step(net: FusionNet, size: int, repeat: int) -> str:
    net.train()
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    a, b = torch.rand(2, 1, size, size), torch.rand(2, 1, size, size)
    times = []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        (net(a, b) - torch.maximum(a, b)).abs().mean().backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    net.eval()
    return median_best(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbones", nargs="+", default=[*VARIANTS, RECIPE], choices=[*VARIANTS, RECIPE])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--train", type=int, default=0, metavar="SIZE", help="also time a training step at SIZE^2"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    head = (
        "| backbone | params total | trainable | GFLOPs 256² pair | GFLOPs 640×480 pair "
        "| fp32 640×480 (s, median / best) | bf16 640×480 (s, median / best) |"
    )
    if args.train:
        head += f" train step {args.train}², batch 2 (s, median / best) |"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeat} after a warm-up\n"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name in args.backbones:
        net = build(name)
        total = sum(p.numel() for p in net.parameters())
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        row = [
            name,
            f"{total / 1e6:.3f} M",
            f"{trainable / 1e6:.3f} M",
            f"{gflops(net, 256, 256):.1f}",
            f"{gflops(net, 480, 640):.1f}",
            latency(net, 480, 640, args.repeat, bf16=False),
            latency(net, 480, 640, args.repeat, bf16=True),
        ]
        if args.train:
            row.append(train_step(net, args.train, args.repeat))
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()

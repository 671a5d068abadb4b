"""Training throughput: FusionModule under Lightning vs a hand-written PyTorch loop, fp32 vs bf16, 1 vs 2 processes.

Same model (default FusionNet), loss (pixel objective 20/20/10), optimiser (AdamW) and pre-built batches
everywhere, so the difference is the framework. Prints a table of samples/s.

    .venv/bin/python benchmarks/bench_training.py [--steps 40] [--batch 8] [--patch 64]
"""

from __future__ import annotations

import argparse
import functools
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from fusionlab.data.synthetic import SyntheticFusionDataset  # noqa: E402
from fusionlab.engine.module import FusionModule  # noqa: E402
from fusionlab.losses import GradientLoss, IntensityLoss, Objective, SSIMLoss  # noqa: E402
from fusionlab.models import FusionNet  # noqa: E402
from fusionlab.models.backbones import DenseCNN  # noqa: E402

WARMUP = 5


def make_batches(n: int, batch: int, patch: int) -> list[dict]:
    ds = SyntheticFusionDataset("ivif", size=patch, length=n * batch, split="train")
    out = []
    for i in range(n):
        items = [ds[i * batch + j] for j in range(batch)]
        out.append({"a": torch.stack([s["a"] for s in items]), "b": torch.stack([s["b"] for s in items]),
                    "task": [s["task"] for s in items]})
    return out


def parts() -> tuple[FusionNet, Objective]:
    torch.manual_seed(0)
    model = FusionNet(DenseCNN(), channels_last=True)  # the default model config
    objective = Objective({"intensity": IntensityLoss(20.0), "gradient": GradientLoss(20.0), "ssim": SSIMLoss(10.0)})
    return model, objective


def plain_loop(batches: list[dict], bf16: bool) -> float:
    model, objective = parts()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    start = 0.0
    for i, batch in enumerate(batches):
        if i == WARMUP:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            fused = model(batch["a"], batch["b"])
        loss, _ = objective(fused, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    n = len(batches) - WARMUP
    return n * batches[0]["a"].shape[0] / (time.perf_counter() - start)


class _Timer(L.Callback):
    def __init__(self) -> None:
        self.start = 0.0
        self.steps = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if batch_idx == WARMUP:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, module) -> None:
        self.elapsed = time.perf_counter() - self.start
        self.steps = trainer.global_step - WARMUP
        if trainer.world_size > 1:
            t = torch.tensor([self.elapsed])
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            self.elapsed = float(t)
        if trainer.is_global_zero:
            bs = trainer.train_dataloader.batch_size or 8
            rate = self.steps * bs * trainer.world_size / self.elapsed
            with open(os.environ["FUSIONLAB_BENCH_OUT"], "w") as fh:
                fh.write(str(rate))


def lightning_loop(batches: list[dict], precision: str, devices: int, out_file: str) -> float:
    model, objective = parts()
    module = FusionModule(model, objective, optimizer=functools.partial(torch.optim.AdamW, lr=1e-3), scheduler=None)
    samples = [{"a": b["a"][i], "b": b["b"][i], "task": b["task"][i]} for b in batches for i in range(len(b["task"]))]
    batch = batches[0]["a"].shape[0]
    loader = DataLoader(samples, batch_size=batch, shuffle=False, drop_last=True)
    os.environ["FUSIONLAB_BENCH_OUT"] = out_file
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto", precision=precision,
        max_steps=len(batches) // devices, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=[_Timer()],
    )
    trainer.fit(module, train_dataloaders=loader)
    with open(out_file) as fh:
        return float(fh.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    args = parser.parse_args()
    batches = make_batches(args.steps + WARMUP, args.batch, args.patch)
    out_file = "/tmp/fusionlab_bench_rate.txt"
    rows = []
    for bf16 in (False, True):
        name = "bf16" if bf16 else "fp32"
        plain = plain_loop(batches, bf16)
        light = lightning_loop(batches, "bf16-mixed" if bf16 else "32-true", 1, out_file)
        rows.append((f"1 process, {name}", plain, light))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two processes on two cores: one thread each
    ddp = lightning_loop(make_batches(2 * args.steps + 2 * WARMUP, args.batch, args.patch), "32-true", 2, out_file)
    torch.set_num_threads(threads)
    print(f"\nTraining samples/s (batch {args.batch}, patch {args.patch}, {args.steps} timed steps, "
          f"torch {torch.__version__}, {threads} threads)\n")
    print("| setting | hand-written loop | FusionModule (Lightning) | ratio |\n|---|---:|---:|---:|")
    for name, plain, light in rows:
        print(f"| {name} | {plain:.1f} | {light:.1f} | {light / plain:.2f} |")
    print(f"| 2 processes (DDP gloo), fp32 | - | {ddp:.1f} | - |")


if __name__ == "__main__":
    main()

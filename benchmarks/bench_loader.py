"""Training-loader throughput (decode + crop + augment + colour split) next to the training step's rate.

    python benchmarks/bench_loader.py [--data-dir ../shared/data] [--datasets msrs m3fd] [--samples 384]
                                      [--rounds 5] [--workers 2]

Every loader is timed from a fresh ``iter()`` (new worker processes, worker start-up included) over
``--samples`` random patches; the rows are measured interleaved with the default model's hand-written
training step (forward, objective, backward, AdamW on the same batch and patch size), ``--rounds`` times,
and medians are printed, so a loaded machine shifts numerator and denominator alike:

- ``cold, first use``: the persistent decoded cache (``data.options.real.disk_cache``) starts empty: every
  image is decoded once (by whichever worker draws it first) and then read memory-mapped;
- ``cold, new run``: fresh workers, the disk cache already filled (any run after the first one on a machine);
- ``warm``: the same loader's second pass (steady state of a long run);
- ``per-process cache only``: the disk cache off, each worker decoding every image it draws into its own
  ``cache_mb`` memory cache (the loader before the disk cache);
- ``no cache``: every sample decodes both files (``cache_mb=0``, disk cache off), a quarter of the samples.

DESIGN §9 asks the loader for >= 3x the training step's samples/s with 2 workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch.utils.data import DataLoader, RandomSampler  # noqa: E402

from fusionlab.data.datamodule import collate_samples  # noqa: E402
from fusionlab.data.sources import BuildRequest, get_source  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPLITS = {k: 0.99 for k in ("m3fd", "roadscene", "harvard", "mef", "lytro")}  # allow training on test-only sets
MODES = ("cold, first use", "cold, new run", "warm", "per-process cache only", "no cache")


def make_loader(data_dir: Path, key: str, patch: int, batch: int, samples: int, workers: int,
                cache_mb: int, disk_cache: str) -> DataLoader:
    opts = {"cache_mb": cache_mb, "disk_cache": disk_cache, "val_fraction": 0.0, "splits": SPLITS}
    ds = get_source(key).build(BuildRequest(data_dir, "train", patch, True, 0, opts))
    sampler = RandomSampler(ds, replacement=True, num_samples=samples)
    return DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate_samples,
                      drop_last=True, persistent_workers=workers > 0)


def timed_pass(loader: DataLoader) -> float:
    start, n = time.perf_counter(), 0
    for b in loader:  # a fresh iterator: worker start-up (first pass) and every decode are inside the clock
        n += b["a"].shape[0]
    return n / (time.perf_counter() - start)


def loader_rates(data_dir: Path, key: str, args: argparse.Namespace, disk_root: Path) -> dict[str, float]:
    """One measurement of every mode for ``key``; ``disk_root`` is emptied first (cold, first use)."""
    shutil.rmtree(disk_root, ignore_errors=True)
    p, b, n, w = args.patch_size, args.batch_size, args.samples, args.workers
    out = {}
    loader = make_loader(data_dir, key, p, b, n, w, 1024, str(disk_root))
    out["cold, first use"] = timed_pass(loader)
    out["warm"] = timed_pass(loader)  # persistent workers: second pass over warm caches
    del loader
    out["cold, new run"] = timed_pass(make_loader(data_dir, key, p, b, n, w, 1024, str(disk_root)))
    out["per-process cache only"] = timed_pass(make_loader(data_dir, key, p, b, n, w, 1024, ""))
    out["no cache"] = timed_pass(make_loader(data_dir, key, p, b, max(b, n // 4), w, 0, ""))
    return out


class TrainStep:
    """The default model + objective + optimiser, hand-written loop (the denominator of every ratio)."""

    def __init__(self, patch: int, batch: int) -> None:
        from hydra.utils import instantiate

        from fusionlab.config import compose

        cfg = compose([], output_dir=Path(tempfile.gettempdir()) / "bench_loader_run")
        self.model, self.objective = instantiate(cfg.model), instantiate(cfg.loss)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        a, b = torch.rand(batch, 1, patch, patch), torch.rand(batch, 1, patch, patch)
        self.data, self.batch = {"a": a, "b": b, "task": ["ivif"] * batch}, batch
        self.rate(2)  # warm-up: allocator, oneDNN primitives

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        out = self.objective(self.model(self.data["a"], self.data["b"]), self.data)
        (out[0] if isinstance(out, tuple) else out).backward()
        self.opt.step()

    def rate(self, min_steps: int = 3, min_seconds: float = 1.0) -> float:
        start, steps = time.perf_counter(), 0
        while steps < min_steps or time.perf_counter() - start < min_seconds:
            self.step()
            steps += 1
        return steps * self.batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("FUSIONLAB_DATA") or REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=["msrs", "m3fd"])
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=384)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        raise SystemExit(f"data not found at {args.data_dir}: pass --data-dir or set FUSIONLAB_DATA")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"patch {args.patch_size}, batch {args.batch_size}, {args.samples} samples, {args.workers} workers, "
          f"{torch.get_num_threads()} torch threads, {args.rounds} interleaved rounds, data {args.data_dir}")
    step = TrainStep(args.patch_size, args.batch_size)
    steps: list[float] = []
    rates: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            before = step.rate()
            got = {key: loader_rates(args.data_dir, key, args, Path(tmp) / key) for key in args.datasets}
            s = statistics.mean([before, step.rate()])  # the step on both sides of this round's loaders
            steps.append(s)
            for key, modes in got.items():
                for mode, v in modes.items():
                    rates.setdefault((key, mode), []).append(v)
                    ratios.setdefault((key, mode), []).append(v / s)
            print(f"round {r + 1}: train step {s:.0f} samples/s; " + "; ".join(
                f"{k} {m} {v:.0f}" for k, ms in got.items() for m, v in ms.items() if m.startswith("cold")), flush=True)
    med = statistics.median
    print(f"\n| loader ({args.workers} workers) | samples/s (median of {args.rounds}) | / train step "
          "(median of per-round ratios) |")
    print("|---|---:|---:|")
    for key in args.datasets:
        for mode in MODES:
            print(f"| {key}, {mode} | {med(rates[key, mode]):.0f} | {med(ratios[key, mode]):.1f}x |")
    print(f"| default model train step (hand-written loop, batch {args.batch_size} of {args.patch_size}²) | "
          f"{med(steps):.0f} | 1.0x |")


if __name__ == "__main__":
    main()

"""Training-loader throughput (decode + crop + augment + colour split) next to the training step's rate.

    python benchmarks/bench_loader.py [--data-dir ../shared/data] [--datasets msrs m3fd] [--samples 512]

Prints samples/s for 0 and 2 workers, with the per-process decoded-image cache on (the default,
``data.options.real.cache_mb``) and off (every sample decodes both files: the cold, first-epoch rate on
a dataset too large to cache), and the default model's hand-written training step (forward, pixel
objective, backward, AdamW) on the same batch size and patch size. DESIGN §9 asks the loader for
>= 3x the training step's samples/s with 2 workers.
"""

from __future__ import annotations

import argparse
import os
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


def loader_rate(data_dir: Path, key: str, patch: int, batch: int, samples: int, workers: int, cache_mb: int) -> float:
    opts = {"cache_mb": cache_mb, "val_fraction": 0.0, "splits": SPLITS}
    ds = get_source(key).build(BuildRequest(data_dir, "train", patch, True, 0, opts))
    sampler = RandomSampler(ds, replacement=True, num_samples=samples + batch)
    loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate_samples,
                        drop_last=True)
    it = iter(loader)
    next(it)  # worker start-up is not the steady state
    start, n = time.perf_counter(), 0
    for b in it:
        n += b["a"].shape[0]
    return n / (time.perf_counter() - start)


def train_step_rate(patch: int, batch: int, steps: int = 10) -> float | None:
    """The default model + objective + optimiser, hand-written loop; None when the spine is unavailable."""
    try:
        from hydra.utils import instantiate

        from fusionlab.config import compose

        cfg = compose([], output_dir=Path("/tmp/bench_loader_run"))
        model, objective = instantiate(cfg.model), instantiate(cfg.loss)
    except Exception as err:  # noqa: BLE001 - the benchmark still reports the loader
        print(f"(training-step rate unavailable: {err})")
        return None
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    a, b = torch.rand(batch, 1, patch, patch), torch.rand(batch, 1, patch, patch)
    data = {"a": a, "b": b, "task": ["ivif"] * batch}

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        fused = model(a, b)
        out = objective(fused, data)
        (out[0] if isinstance(out, tuple) else out).backward()
        opt.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("FUSIONLAB_DATA") or REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=["msrs", "m3fd"])
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=384)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"patch {args.patch_size}, batch {args.batch_size}, {args.samples} samples, "
          f"{torch.get_num_threads()} torch threads, data {args.data_dir}")
    rows = []
    for key in args.datasets:
        for cache_mb, label in ((1024, "cache on"), (0, "cache off")):
            n = args.samples if cache_mb else max(args.batch_size, args.samples // 4)  # cold runs are slow
            rates = [loader_rate(args.data_dir, key, args.patch_size, args.batch_size, n, w, cache_mb)
                     for w in (0, 2)]
            rows.append((f"{key} ({label})", *rates))
    step = train_step_rate(args.patch_size, args.batch_size)
    print("\n| loader | samples/s, 0 workers | samples/s, 2 workers | 2 workers / train step |")
    print("|---|---:|---:|---:|")
    for name, r0, r2 in rows:
        ratio = f"{r2 / step:.1f}x" if step else "n/a"
        print(f"| {name} | {r0:.0f} | {r2:.0f} | {ratio} |")
    if step:
        print(f"| default model train step (hand-written loop) | {step:.0f} | | |")


if __name__ == "__main__":
    main()

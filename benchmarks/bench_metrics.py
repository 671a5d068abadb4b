"""Per-metric CPU time for one 640x480 triple (MSRS 00004N, average fusion) and the full default set per image.

    python benchmarks/bench_metrics.py                 # torch's default thread count
    python benchmarks/bench_metrics.py --threads 1     # single thread (steadier on a shared CPU)
    python benchmarks/bench_metrics.py --fmi           # also time FMI_pixel (not in the default set)

Each number is the best of ``--repeat`` runs (after one warm-up), so it measures the code rather than the
neighbours on a shared machine. DESIGN §9 target: the default set under 1 s per 640x480 image.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from fusionlab.data.io import luma_u8, read_image
from fusionlab.metrics import DEFAULT_METRICS, METRICS, compute_metrics

REPO = Path(__file__).resolve().parents[1]


def load_triple(image: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    data = Path(os.environ.get("FUSIONLAB_DATA") or REPO.parent / "shared" / "data")
    a = luma_u8(read_image(data / "msrs" / "test" / "ir" / f"{image}.png"))
    b = luma_u8(read_image(data / "msrs" / "test" / "vi" / f"{image}.png"))
    f = np.floor((a + b) / 2 + 0.5)
    return tuple(torch.from_numpy(x).view(1, 1, *x.shape) for x in (f, a, b))


def best_of(fn, repeat: int) -> tuple[float, float]:
    """Best wall time and best process CPU time over ``repeat`` runs after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--image", default="00004N")
    parser.add_argument("--convention", default="cddfuse")
    parser.add_argument("--fmi", action="store_true", help="also time FMI_pixel")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", RuntimeWarning)
    f, a, b = load_triple(args.image)
    print(
        f"MSRS {args.image} avg fusion, {f.shape[-1]}x{f.shape[-2]}, convention {args.convention}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), best of {args.repeat}\n"
    )
    names = list(METRICS) if args.fmi else DEFAULT_METRICS
    per = {}
    for name in names:
        per[name] = best_of(lambda n=name: compute_metrics(f, a, b, [n], args.convention), args.repeat)
    print(f"{'metric':10s} {'wall ms':>9s} {'cpu ms':>9s}")
    for name, (wall, cpu) in per.items():
        note = "" if name in DEFAULT_METRICS else "  (not in the default set)"
        print(f"{name:10s} {wall * 1e3:9.1f} {cpu * 1e3:9.1f}{note}")
    alone = sum(per[n][0] for n in DEFAULT_METRICS)
    wall, cpu = best_of(lambda: compute_metrics(f, a, b, DEFAULT_METRICS, args.convention), args.repeat)
    print(f"\nsum of the default metrics run one by one: {alone * 1e3:.0f} ms wall")
    print(
        f"default set in one compute_metrics call (VIF and VIFF share their maps): "
        f"{wall * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms cpu per image"
    )
    print(
        "(cpu = process CPU time; with one thread it excludes time lost to other processes on a shared CPU)"
    )


if __name__ == "__main__":
    main()

"""fusionlab's metrics against a straightforward numpy implementation, per metric and in total, at 1 and 2 threads.

    python benchmarks/bench_metrics.py                  # default set + FMI_pixel, threads 1 and 2, median of 7
    python benchmarks/bench_metrics.py --no-fmi         # without FMI_pixel (its numpy side takes ~2.5 s a run)
    python benchmarks/bench_metrics.py --threads 1 --repeat 11 --stat best

One 640x480 triple (MSRS test 00004N, average fusion). Project and reference runs are interleaved in one
process (project, reference, project, ...), so a busy neighbour slows both alike; each cell is the median (or
best) of ``--repeat`` runs after a warm-up. A project cell times ``compute_metrics(f, a, b, [name])`` alone; the
total times one ``compute_metrics`` call for the whole set (intermediates shared) against the reference's
functions run one after another.

The reference is the first of: ``--reference FILE``; a ``*.py`` in ``$FUSIONLAB_REFERENCE`` (or
``../shared/reference``) that defines ``baseline_metrics()``; ``tests/metrics/numpy_metrics.py`` (numpy/scipy,
float64, written from the definitions, checked against fusionlab in tests/metrics/test_numpy_baseline.py).
It is imported from where it lies, never copied. numpy does not use the torch thread setting. Issue 13 targets:
total >= 5x at 2 threads, >= 3x at 1 thread, FMI_pixel >= 10x, no metric slower than the reference.

A second table times what a multi-method evaluation does per pair: the fused images of the five classical rules
scored with each task's standard set, every call on its own or all sharing one ``SourceCache`` (what the
sources alone determine is computed once). One pair per task (MSRS 00004N, MEF ICCV_01, Lytro 01), at the
largest thread count; ``--no-methods`` skips it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

# As the entry points set it (fusionlab.cli), before torch: `python -m fusionlab.evaluate` scores with huge pages,
# so the benchmark does too (both columns run in this one process, so the reference gets them as well).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fusionlab.baselines import build_baseline  # noqa: E402
from fusionlab.data.io import luma_u8, read_image  # noqa: E402
from fusionlab.metrics import (  # noqa: E402
    DEFAULT_METRICS,
    TASK_METRICS,
    SourceCache,
    compute_metrics,
    to_metric_range,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FALLBACK = REPO / "tests" / "metrics" / "numpy_metrics.py"


def load_triple(image: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(f, a, b) as (1, 1, H, W) float64 on 0..255: IR, visible luma and their rounded average."""
    data = Path(os.environ.get("FUSIONLAB_DATA") or SHARED / "data")
    a = luma_u8(read_image(data / "msrs" / "test" / "ir" / f"{image}.png"))
    b = luma_u8(read_image(data / "msrs" / "test" / "vi" / f"{image}.png"))
    f = np.floor((a + b) / 2 + 0.5)
    return tuple(torch.from_numpy(np.ascontiguousarray(x)).view(1, 1, *x.shape) for x in (f, a, b))


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"_bench_ref_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.path.insert(0, str(path.parent))  # the fallback imports its FMI sibling
    spec.loader.exec_module(module)
    return module


def load_reference(explicit: str | None) -> tuple[dict[str, Callable], Path]:
    """name -> fn(f, a, b) on 2-D float64 arrays, and the file it came from (see the module doc)."""
    ref_dir = Path(os.environ.get("FUSIONLAB_REFERENCE") or SHARED / "reference")
    candidates = [Path(explicit)] if explicit else [*sorted(ref_dir.glob("*.py")), FALLBACK]
    for path in candidates:
        if path.is_file() and "baseline_metrics" in path.read_text(errors="ignore"):
            module = _import(path)
            if hasattr(module, "baseline_metrics"):
                return module.baseline_metrics(), path
    raise SystemExit(f"error: no reference implementation with baseline_metrics() among {candidates}")


def interleaved(fns: list[Callable[[], object]], repeat: int, stat: str) -> list[float]:
    """Seconds per function, alternating the functions each round after one warm-up round."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    pick = min if stat == "best" else statistics.median
    return [pick(t) for t in times]


def measure(names: list[str], args, tensors, arrays, ref: dict[str, Callable]) -> dict[str, tuple[float, float]]:
    """{metric or 'total': (project s, reference s)} at the current torch thread count."""
    f, a, b = tensors
    fn_, an, bn = arrays
    out = {}
    for name in names:
        reps = max(3, args.repeat // 3) if name == "FMI_pixel" else args.repeat
        proj, rf = interleaved(
            [lambda n=name: compute_metrics(f, a, b, [n]), lambda n=name: ref[n](fn_, an, bn)], reps, args.stat
        )
        out[name] = (proj, rf)
    default = [n for n in names if n in DEFAULT_METRICS]
    proj, rf = interleaved(
        [lambda: compute_metrics(f, a, b, default), lambda: [ref[n](fn_, an, bn) for n in default]],
        args.repeat,
        args.stat,
    )
    out["total"] = (proj, rf)
    return out


METHOD_PAIRS = {  # task -> (dataset, source a, source b), under the data root
    "ivif": ("MSRS 00004N", "msrs/test/ir/00004N.png", "msrs/test/vi/00004N.png"),
    "mef": ("MEF ICCV_01", "mef/input/ICCV_01/ICCV_01_A.jpg", "mef/input/ICCV_01/ICCV_01_B.jpg"),
    "mff": ("Lytro 01", "lytro/lytro-01-A.jpg", "lytro/lytro-01-B.jpg"),
}
RULES = ("average", "max", "laplacian", "wavelet", "gff")


def score_all(fused: list[torch.Tensor], a: torch.Tensor, b: torch.Tensor, names: list[str], share: bool) -> None:
    """Score every fused image of one pair, each call alone or all with one fresh SourceCache."""
    sources = SourceCache() if share else None
    for f in fused:
        compute_metrics(f, a, b, names, sources=sources)


def measure_methods(args) -> list[str]:
    """Table rows: per task, ms per fused image scored alone against with one SourceCache for the pair."""
    data = Path(os.environ.get("FUSIONLAB_DATA") or SHARED / "data")
    rows = []
    for task, (label, pa, pb) in METHOD_PAIRS.items():
        a, b = (torch.from_numpy(luma_u8(read_image(data / p))).float().div(255)[None, None] for p in (pa, pb))
        with torch.no_grad():
            fused = [to_metric_range(build_baseline(rule)(a, b).clamp(0, 1)) for rule in RULES]
        a64, b64 = to_metric_range(a), to_metric_range(b)
        names = TASK_METRICS[task]

        t_alone, t_shared = interleaved(
            [partial(score_all, fused, a64, b64, names, False), partial(score_all, fused, a64, b64, names, True)],
            max(3, args.repeat // 2),
            args.stat,
        )
        n = len(fused)
        h, w = a.shape[-2:]
        rows.append(f"| {task} ({len(names)} metrics) | {label}, {w}x{h} | {t_alone / n * 1e3:.0f} | "
                    f"{t_shared / n * 1e3:.0f} | {t_alone / t_shared:.2f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--stat", choices=("median", "best"), default="median")
    parser.add_argument("--image", default="00004N")
    parser.add_argument("--no-fmi", action="store_true", help="skip FMI_pixel (timed by default: issue 13 sets it a target)")
    parser.add_argument("--reference", default=None, help="a .py file defining baseline_metrics()")
    parser.add_argument("--no-methods", action="store_true", help="skip the multi-method (SourceCache) table")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    ref, ref_path = load_reference(args.reference)
    tensors = load_triple(args.image)
    arrays = tuple(x[0, 0].numpy() for x in tensors)
    names = [*DEFAULT_METRICS, *([] if args.no_fmi else ["FMI_pixel"])]
    results = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        results[threads] = measure(names, args, tensors, arrays, ref)
    h, w = arrays[0].shape
    print(
        f"MSRS {args.image} avg fusion, {w}x{h}, convention cddfuse, torch {torch.__version__}, numpy "
        f"{np.__version__}; {args.stat} of {args.repeat}, interleaved; reference: {ref_path}\n"
    )
    head = "".join(f" | {t} thr: ours ms | numpy ms | speed-up" for t in args.threads)
    print(f"| metric{head} |")
    print("|---" + "|---:|---:|---:" * len(args.threads) + "|")
    for name in [*names, "total"]:
        cells = "".join(
            f" | {p * 1e3:.1f} | {r * 1e3:.1f} | {r / p:.2f}x" for p, r in (results[t][name] for t in args.threads)
        )
        label = "**total (default set, one call)**" if name == "total" else name
        print(f"| {label}{cells} |")
    print(f"\n({torch.get_num_threads()} torch thread(s) last; speed-up = numpy time / fusionlab time)")
    if not args.no_methods:
        rows = measure_methods(args)
        print(f"\nScoring the {len(RULES)} classical rules' fused images of one pair with the task's standard set, "
              f"{torch.get_num_threads()} thread(s), {args.stat} of {max(3, args.repeat // 2)}:\n")
        print("| task set | pair | ms per fused image, each call alone | with one SourceCache | speed-up |")
        print("|---|---|---:|---:|---:|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()

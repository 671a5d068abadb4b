"""PSNR against the ground truth on the synthetic *validation* pairs: a design criterion no test image enters.

    python experiments/synthetic_val_psnr.py LABEL=CKPT [LABEL=CKPT ...] [--pairs 64] [--seed S]

Training selects checkpoints on ``val/quality``, reference-free metrics on the validation sets. Two of them reward a
fused image that copies one source region by region (MI most of all), so they cannot tell a patchwork from a fusion.
The embedded synthetic pairs have ground truth, and their validation split is never tested on: this script scores
trained checkpoints on it, per task (IVIF, MIF, MEF, MFF), next to the five classical rules. A label given more than
once (one checkpoint per seed) is reported as mean ± std over its checkpoints. docs/quality.md reads it for the
choice of the two-band base blend (``model.base_coarse_radius``). ``--pairs N`` scores N validation pairs per task
instead of 8, as many as a training run validates on (they come first in any larger draw; seed 0's draw, while a
run draws its own with its seed): one pair's PSNR_gt varies by
several dB, so differences of tenths of a dB need more; ``--seed S`` draws another sample.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch
from torch import Tensor

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fusionlab.baselines import build_baseline  # noqa: E402
from fusionlab.data.sources import BuildRequest, get_source  # noqa: E402
from fusionlab.engine.checkpoints import load_evaluation_model  # noqa: E402
from fusionlab.metrics import compute_reference_metrics, to_metric_range  # noqa: E402

TASKS = ("synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff")
RULES = ("average", "max", "laplacian", "wavelet", "gff")


def psnr(fused: Tensor, target: Tensor) -> float:
    """PSNR_gt in dB as evaluation and validation score it (8-bit images, peak 255)."""
    values = compute_reference_metrics(to_metric_range(fused.clamp(0, 1)), to_metric_range(target))
    return float(values["PSNR_gt"].mean())


def parse_runs(specs: list[str]) -> list[tuple[str, Path]]:
    """``LABEL=CKPT`` arguments as (label, path); a missing file is an error that names it."""
    runs = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"error: expected LABEL=CKPT (e.g. two_band=outputs/run/checkpoints/last.ckpt), got {spec!r}")
        if not Path(path).is_file():
            raise SystemExit(f"error: checkpoint {path!r} (label {label!r}) does not exist")
        runs.append((label, Path(path)))
    return runs


def task_psnr(models: dict[str, list[torch.nn.Module]], task: str, pairs: int | None = None,
              seed: int = 0) -> dict[str, list[float]]:
    """{label or rule: [mean PSNR over the task's validation pairs, one per checkpoint]}; ``pairs`` per task
    (default 8, as many as a run validates on), ``seed`` the draw."""
    options = {"lengths": {"val": pairs}} if pairs else {}
    ds = get_source(task).build(BuildRequest(data_dir=None, split="val", seed=seed, options=options))
    fns = {label: list(ms) for label, ms in models.items()}
    fns.update({rule: [build_baseline(rule)] for rule in RULES})
    sums = {name: [0.0] * len(fs) for name, fs in fns.items()}
    with torch.no_grad():
        for i in range(len(ds)):
            sample = ds[i]
            a, b, target = (sample[k][None].float() for k in ("a", "b", "target"))
            for name, fs in fns.items():
                for j, fn in enumerate(fs):
                    sums[name][j] += psnr(fn(a, b), target) / len(ds)
    return sums


def table(runs: list[tuple[str, Path]], pairs: int | None = None, seed: int = 0) -> str:
    models: dict[str, list[torch.nn.Module]] = {}
    for label, path in runs:
        models.setdefault(label, []).append(load_evaluation_model(path).model.eval())
    names = [*models, *RULES]
    lines = ["| task | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for task in TASKS:
        values = task_psnr(models, task, pairs, seed)
        cells = []
        for name in names:
            v = values[name]
            cells.append(f"{statistics.fmean(v):.2f}" + (f" ± {statistics.stdev(v):.2f}" if len(v) > 1 else ""))
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=CKPT")
    parser.add_argument("--pairs", type=int, default=None, help="validation pairs per task (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
    args = parser.parse_args(argv)
    if args.pairs is not None and args.pairs < 1:
        raise SystemExit(f"error: --pairs must be at least 1, got {args.pairs}")
    runs = parse_runs(args.runs)
    draw = f"{args.pairs} synthetic validation pairs per task" if args.pairs else "the synthetic validation pairs"
    print(f"PSNR_gt (dB) on {draw} (seed {args.seed}), mean over pairs (± std over a label's checkpoints)\n")
    print(table(runs, args.pairs, args.seed))


if __name__ == "__main__":
    sys.exit(main())

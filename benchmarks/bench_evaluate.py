"""Wall time of a multi-method evaluation over the zero-shot suite, scoring overlapped with fusion or not.

    python benchmarks/bench_evaluate.py [--data-dir ../shared/data] [--repeat 1]

Runs the documented command ``python -m fusionlab.evaluate pretrained=fusionnet_ivif
methods=[average,max,laplacian,wavelet,gff] eval=zero_shot paths.data_dir=DATA`` (the shipped weights plus the
five classical rules, each task's standard metric set, fused images saved) through the real CLI, with
``eval.overlap=true`` and ``false`` (default), and prints the wall time of each (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def evaluate_seconds(data_dir: str, overlap: bool, out: Path) -> tuple[float, int]:
    """Wall time of one evaluate run and the number of images it scored (rows of results.csv)."""
    cmd = [sys.executable, "-m", "fusionlab.evaluate", "pretrained=fusionnet_ivif",
           "methods=[average,max,laplacian,wavelet,gff]", "eval=zero_shot", f"paths.data_dir={data_dir}",
           f"eval.overlap={str(overlap).lower()}", "logger=csv", f"hydra.run.dir={out}"]
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"evaluate failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    rows = sum(1 for _ in open(out / "results.csv")) - 1
    return took, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("FUSIONLAB_DATA") or str(REPO.parent / "shared" / "data"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for overlap in (True, False):  # interleaved: a busy neighbour shifts both alike
                took, rows = evaluate_seconds(args.data_dir, overlap, Path(tmp) / f"{overlap}-{r}")
                best = results.get(overlap, (float("inf"), rows))[0]
                results[overlap] = (min(best, took), rows)
    print(f"evaluate: shipped weights + 5 classical rules, zero-shot suite of {args.data_dir}, each task's standard "
          f"metrics, fused images saved; {os.cpu_count()} CPUs, best of {args.repeat}")
    print("| eval.overlap | rows scored | wall s (whole command) |\n|---|---:|---:|")
    for overlap in (True, False):
        took, rows = results[overlap]
        print(f"| {str(overlap).lower()} | {rows} | {took:.1f} |")


if __name__ == "__main__":
    main()

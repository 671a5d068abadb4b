"""Issue #12's targets for every epoch's checkpoint of one training run: does the result depend on the epoch kept?

    python -m fusionlab.train +experiment=ivif_zero_shot paths.data_dir=../shared/data seed=1 \\
        callbacks.model_checkpoint.save_top_k=-1
    python experiments/epoch_targets.py outputs/ivif_zero_shot/runs/<run> --data-dir ../shared/data

Selection keeps one checkpoint by ``val/quality``; which one it keeps depends on the validation sets
(docs/quality.md, *Selection that does not depend on the sample size*). This script evaluates each
``checkpoints/epoch*.ckpt`` of a run (train it with ``callbacks.model_checkpoint.save_top_k=-1`` to keep them all) on
the zero-shot suite through the evaluate CLI, the classical rules once, and prints per epoch its ``val/quality``
(from the run's CSV log), how many of the 14 targets it meets and its win count on each target. It reads the test
pairs, so it shows what a selection costs; it must never choose one. Evaluations are kept under
``<run>/epoch_targets/`` and reused when the script runs again.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load_bench():
    """benchmarks/bench_quality.py (not a package): its targets, headline metrics, rules and win counts are the ones
    used here."""
    spec = importlib.util.spec_from_file_location("bench_quality", REPO / "benchmarks" / "bench_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def epoch_checkpoints(run: Path) -> list[Path]:
    """The run's per-epoch checkpoints in epoch order (``epochNNN-stepM.ckpt``)."""
    found = sorted((run / "checkpoints").glob("epoch*.ckpt"))
    if not found:
        raise SystemExit(f"error: no checkpoints/epoch*.ckpt under {run}: train with "
                         "callbacks.model_checkpoint.save_top_k=-1 to keep every epoch's checkpoint")
    return found


def validation_quality(run: Path) -> dict[int, float]:
    """epoch -> ``val/quality`` from the run's CSV log (empty if the run logged no CSV)."""
    path = run / "csv" / "metrics.csv"
    if not path.is_file():
        return {}
    with open(path) as fh:
        return {int(r["epoch"]): float(r["val/quality"]) for r in csv.DictReader(fh) if r.get("val/quality")}


def evaluate(ckpt: Path, out: Path, data_dir: str, methods: list[str], metrics: list[str]) -> Path:
    """``out/results.csv`` for ``ckpt`` (and ``methods``) on the zero-shot suite, evaluated unless it exists."""
    results = out / "results.csv"
    if results.is_file():
        return results
    cmd = [sys.executable, "-m", "fusionlab.evaluate", f"ckpt_path={ckpt}", "eval=zero_shot",
           f"paths.data_dir={data_dir}", "method_name=model", f"methods=[{','.join(methods)}]",
           f"eval.metrics=[{','.join(metrics)}]", "logger=csv", "eval.save_fused=false", f"hydra.run.dir={out}"]
    print("$", " ".join(cmd), flush=True)
    log = out.parent / f"{out.name}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"error: evaluating {ckpt} failed (exit {proc.returncode}); see {log}")
    return results


def table(rows: list[tuple[int, float | None, dict[tuple[str, str], int]]], targets) -> list[str]:
    """One line per epoch: ``val/quality``, targets met, and the count on each target (``*`` where missed)."""
    keys = [(d, r) for d, rules in targets.items() for r in rules]
    short = [f"{d.removeprefix('harvard/')} vs {r}" for d, r in keys]
    lines = ["| epoch | val/quality | targets met | " + " | ".join(short) + " |",
             "|---:|---:|---:|" + "---:|" * len(keys)]
    for epoch, quality, counts in rows:
        met = sum(counts[k] >= targets[k[0]][k[1]] for k in keys if k in counts)
        cells = [f"{counts[k]}{'' if counts[k] >= targets[k[0]][k[1]] else '*'}" if k in counts else "-" for k in keys]
        q = f"{quality:.4f}" if quality is not None else "-"
        lines.append(f"| {epoch} | {q} | {met} of {len(keys)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a training run folder with checkpoints/epoch*.ckpt")
    parser.add_argument("--data-dir", default="../shared/data", help="the data root the targets are read on")
    args = parser.parse_args(argv)
    run = args.run.resolve()
    ckpts = epoch_checkpoints(run)
    quality = validation_quality(run)
    work = run / "epoch_targets"
    rule_rows: list[dict] = []
    rows = []
    for i, ckpt in enumerate(ckpts):
        results = evaluate(ckpt, work / ckpt.stem, args.data_dir, list(bench.RULES) if i == 0 else [],
                           list(bench.HEADLINE))
        read = bench.read_rows(results)
        if i == 0:
            rule_rows = [r for r in read if r["method"] in bench.RULES]
        model_rows = [{**r, "method": "model"} for r in read if r["method"] not in bench.RULES]
        epoch = int(ckpt.stem.split("-")[0].removeprefix("epoch"))
        rows.append((epoch, quality.get(epoch), bench.target_counts(model_rows + rule_rows)))
    lines = [f"Targets per epoch of {run} on {args.data_dir} (`*`: missed; `val/quality` from the run's log):", "",
             *table(rows, bench.TARGETS)]
    (work / "epoch_targets.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {work / 'epoch_targets.md'}")


if __name__ == "__main__":
    main()

"""The quality benchmark's bookkeeping: which checkpoint it scores on the synthetic suite and how it reports it.

The benchmark itself trains for minutes (not a test); these are the pure parts whose mistakes would put wrong
numbers in the README's generated quality block.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_quality.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_quality_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(method: str, dataset: str, psnr: float, seed: int | None = None) -> dict:
    row = {"method": method, "dataset": dataset, "PSNR_gt": f"{psnr}"}
    return row if seed is None else {**row, "seed": seed}


def test_synthetic_table_means_over_seeds_and_flags_the_gap(bench):
    rows = [
        # model: two images per seed; seed means 21.0 and 23.0 -> 22.0 ± 1.414
        _row("model", "synthetic/mff", 20.0, 1), _row("model", "synthetic/mff", 22.0, 1),
        _row("model", "synthetic/mff", 23.0, 2), _row("model", "synthetic/mff", 23.0, 2),
        _row("average", "synthetic/mff", 18.0), _row("average", "synthetic/mff", 20.0),
        _row("gff", "synthetic/mff", 22.5), _row("gff", "synthetic/mff", 22.5),
        _row("model", "synthetic/mef", 10.0, 1), _row("model", "synthetic/mef", 12.0, 2),
        _row("average", "synthetic/mef", 20.0), _row("gff", "synthetic/mef", 19.0),
    ]  # fmt: skip
    lines = bench.synthetic_table(rows, ["average", "gff"])
    assert lines[0].startswith("| dataset | model | average | gff | best rule |")
    mff = next(line for line in lines if line.startswith("| synthetic/mff"))
    assert mff == "| synthetic/mff | 22.00 ± 1.41 | 19.00 | 22.50 | gff | -0.50 | yes |"
    mef = next(line for line in lines if line.startswith("| synthetic/mef"))
    assert mef == "| synthetic/mef | 11.00 ± 1.41 | 20.00 | 19.00 | average | -9.00 | no |"


def test_synthetic_table_skips_rows_without_ground_truth(bench):
    rows = [{"method": "model", "dataset": "msrs", "PSNR_gt": "", "seed": 1}, _row("average", "msrs", 1.0)]
    assert len(bench.synthetic_table(rows, ["average"])) == 2  # header only


def test_evaluated_checkpoint_is_the_one_the_run_recorded(bench, tmp_path):
    (tmp_path / "results.md").write_text(
        "# results\n\nCheckpoint evaluated: /runs/x/checkpoints/epoch000-step64.ckpt, selected by best "
        "val/quality (max) = 0.6123.\n"
    )
    assert bench.evaluated_checkpoint(tmp_path) == "/runs/x/checkpoints/epoch000-step64.ckpt"
    (tmp_path / "results.md").write_text("# results\n")
    with pytest.raises(SystemExit, match="Checkpoint evaluated"):
        bench.evaluated_checkpoint(tmp_path)

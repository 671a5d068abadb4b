"""The quality benchmark's documented commands, as typed (issue 12: the README's quality table is its output).

Every ``python benchmarks/bench_quality.py ...`` the docs show is found at collection time. The README's own
command (three seeds on the shared data, behind ``make bench-quality``) is run end to end through the script's
CLI, with size overrides only (one short epoch, every image centre-cropped to 96 px, one test image per
dataset), and the report it writes is checked table by table. The others differ from it only in their Hydra
overrides: those are checked the way the benchmark itself checks them before its first run (composed, model and
objective built), and a misspelled override must stop the script with an error that names it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
from doc_helpers import REPO, command_env, load_script, mini_data

BENCH = REPO / "benchmarks" / "bench_quality.py"
DOCS = ("README.md", "docs/*.md", "experiments/README.md")
MAIN = "python benchmarks/bench_quality.py --seeds 1 2 3 --data-dir ../shared/data"  # behind `make bench-quality`
FROM_RUNS = "python benchmarks/bench_quality.py --from-runs outputs/bench_quality/<date_time>"  # re-tabulates MAIN's output
SIZE = ["trainer.max_epochs=1", "data.samples_per_epoch=4", "data.batch_size=2", "data.patch_size=32",
        "++trainer.limit_val_batches=1", "++trainer.limit_test_batches=1"]
REAL_DATASETS = ("msrs", "roadscene", "m3fd", "harvard/CT-MRI", "harvard/PET-MRI", "harvard/SPECT-MRI", "mef",
                 "lytro")


def documented_commands() -> list[str]:
    """Every inline ``python benchmarks/bench_quality.py ...`` of the docs, whitespace normalised."""
    found: dict[str, None] = {}
    for pattern in DOCS:
        for path in sorted(REPO.glob(pattern)):
            for span in re.finditer(r"`(python\s+benchmarks/bench_quality\.py[^`]*)`", path.read_text()):
                found.setdefault(" ".join(span.group(1).split()), None)
    return list(found)


COMMANDS = documented_commands()


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH, "bench_quality_documented")


def test_the_readme_command_is_documented():
    assert MAIN in COMMANDS, f"the README no longer shows {MAIN!r}; documented: {COMMANDS}"
    assert FROM_RUNS in COMMANDS, f"the README no longer shows {FROM_RUNS!r} (run below on MAIN's output)"
    assert [c for c in COMMANDS if "--from-runs" in c] == [FROM_RUNS], "a --from-runs command no test runs"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in (MAIN, FROM_RUNS)])
def test_documented_overrides_build_the_recipe(command, bench, tmp_path):
    """What else a documented command changes is its overrides: they compose and build, as the script checks
    before its first run (the run itself is the README command's, above, with these overrides on top)."""
    args, overrides = bench.parse_args(shlex.split(command)[2:])
    assert overrides, f"{command!r} differs from the README command only in its own options"
    assert args.seeds and args.data_dir
    bench.check_overrides(overrides, tmp_path)  # raises SystemExit with the cause


@pytest.mark.slow
def test_readme_command_runs_and_reports_every_table(data_dir, tmp_path):
    mini = mini_data(data_dir, tmp_path / "mini")
    argv = MAIN.replace("../shared/data", str(mini)).split()[1:]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, *argv, "--out", str(out), *SIZE], cwd=REPO, env=command_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (out / "quality.md").read_text()
    assert report in proc.stdout  # printed, for benchmarks/publish.py to put into the README
    for dataset in REAL_DATASETS:  # win counts over the three seeds, per dataset
        assert re.search(rf"^\| model \| {re.escape(dataset)} \| 3 \|( [\d.]+ ± [\d.]+ \|){{6}}$", report, re.M), dataset
    targets = re.findall(r"^\| ([\w/-]+) \| ≥ (\d)/8 vs (\w+) \| (\d) \| ([\d.]+) \| (\d) \| (\d) \|$", report, re.M)
    assert len(targets) == 14 and {t[0] for t in targets} == set(REAL_DATASETS)
    assert all(0.0 <= float(t[4]) <= 1.0 for t in targets)
    synthetic = re.findall(r"^\| synthetic/(\w+) \| (\d+) \| [\d.]+ ± [\d.]+ \|.*\| [+-][\d.]+ ± [\d.]+ \| (yes|no) "
                           r"\| [+-][\d.]+ ± [\d.]+ \|$", report, re.M)
    assert sorted(s[0] for s in synthetic) == ["ivif", "mef", "mff", "mif"]
    assert {s[1] for s in synthetic} == {"64"}  # the suite's 8 pairs per task and 56 more: a gap with ~0.4 dB se
    assert sorted(p.name for p in out.iterdir() if p.is_dir() and p.name.startswith("seed")) == [
        "seed1", "seed1_synthetic", "seed2", "seed2_synthetic", "seed3", "seed3_synthetic"]

    # the documented re-tabulation of that output, as typed but for the folder: the same tables, no training
    argv = FROM_RUNS.replace("outputs/bench_quality/<date_time>", str(out)).split()[1:]
    proc = subprocess.run([sys.executable, *argv], cwd=REPO, env=command_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "$ " not in proc.stdout  # no run was started
    again = (out / "quality_from_runs.md").read_text()
    assert again.split("Headline metrics:", 1)[1] == report.split("Headline metrics:", 1)[1]
    assert (out / "quality.md").read_text() == report  # the original report, with its wall times, is kept


def test_a_misspelled_override_stops_the_benchmark_before_training(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--seeds", "1", "--out", str(tmp_path / "out"),
                           "model.base_prio=5"], cwd=tmp_path, env=command_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert "model.base_prio=5" in proc.stderr and "error:" in proc.stderr
    assert not list((tmp_path / "out").glob("seed*")), "nothing may be trained with a broken override"

"""``make bench`` (README: every number in a bench block comes from it) runs each benchmark and publishes its tables.

Each benchmark ``make bench`` runs is run here through its own CLI, shrunk by its own size options (fewer repeats,
steps and samples; the real pairs' miniature where the benchmark does not time full-size images), and must print
the tables ``benchmarks/publish.py`` puts into the README. No number is asserted: speed lives in the benchmarks'
tables, never in timed tests. A benchmark added under ``benchmarks/`` without a run here fails the first test.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from doc_helpers import REPO, command_env, load_script, mini_data

# name -> (size options, data: "mini" = the 96 px miniature of the real samples, "full" = the real samples,
# None = no data; a header every run must print)
RUNS = {
    "training": (["--steps", "2", "--batch", "2", "--patch", "32"], None,
                 "| setting | hand-written loop | FusionModule (Lightning) | ratio |"),
    "loader": (["--samples", "16", "--rounds", "1", "--patch-size", "32", "--batch-size", "2"], "mini",
               "| loader (2 workers) |"),
    "fuse": (["--repeats", "1"], "full",  # times the official sizes (640x480, 1024x768): the real pairs
             "| size | precision | pairs | pairs/s | s/pair | decode | model | encode |"),
    "evaluate": (["--repeat", "1"], "mini", "| eval.overlap | rows scored | wall s (whole command) |"),
    "backbones": (["--repeat", "1"], None, "| backbone | params total | trainable |"),
    "metrics": (["--threads", "1", "--repeat", "1"], "mini", "| metric | 1 thr: ours ms | numpy ms | speed-up |"),
}
DATA_OPTION = {"loader": "--data-dir", "fuse": "--data-dir", "evaluate": "--data-dir"}  # others read FUSIONLAB_DATA


def _publish():
    return load_script(REPO / "benchmarks" / "publish.py", "publish_under_test")


def test_every_benchmark_make_bench_runs_is_run_here():
    publish = _publish()
    benches = {p.stem.removeprefix("bench_") for p in (REPO / "benchmarks").glob("bench_*.py")}
    assert set(RUNS) == benches - publish.SLOW, "add the new benchmark's size options to RUNS"


@pytest.fixture
def mini(tmp_path_factory, data_dir):
    return mini_data(data_dir, tmp_path_factory.getbasetemp() / "bench_mini")  # built once per session


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("name", list(RUNS))
def test_benchmark_runs_and_prints_its_tables(name, request, data_dir):
    options, data, header = RUNS[name]
    env = command_env()
    if data is not None:
        root = request.getfixturevalue("mini") if data == "mini" else data_dir
        if name in DATA_OPTION:
            options = [*options, DATA_OPTION[name], str(root)]
        else:
            env["FUSIONLAB_DATA"] = str(root)
    proc = subprocess.run([sys.executable, f"benchmarks/bench_{name}.py", *options], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tables = _publish().tables(proc.stdout)
    assert header in tables, f"bench_{name}.py printed no {header!r} table:\n{proc.stdout[-2000:]}"
    rows = [ln for ln in tables.splitlines() if ln.startswith("|") and not ln.startswith("|---")]
    assert len(rows) >= 2, tables  # a header and at least one measured row


def test_fuse_benchmark_says_which_sizes_it_needs(tmp_path):
    """On a data root whose pairs are not the official sizes it stops with a message naming the folder and the
    size it needs, not a division by zero."""
    from PIL import Image

    for sub in ("msrs/test/ir", "msrs/test/vi"):
        (tmp_path / sub).mkdir(parents=True)
        Image.new("L", (96, 96), 128).save(tmp_path / sub / "00001D.png")
    proc = subprocess.run([sys.executable, "benchmarks/bench_fuse.py", "--data-dir", str(tmp_path), "--repeats", "1"],
                          cwd=REPO, env=command_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"no 640x480 pairs in {tmp_path / 'msrs/test/ir'}" in proc.stderr

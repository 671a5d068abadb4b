"""Issue 16: a clone without the shared data collects, skips the `real_data` tests with a summary line, and
fails them instead under FUSIONLAB_REQUIRE_DATA=1 (CI). Runs pytest in a subprocess on two real-data tests (one
needing the sample data, one the reference values) and one that needs nothing, with both pointed at empty folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NODES = [
    "tests/data/test_real_datasets.py::test_every_key_is_registered_with_its_task_and_root",  # needs no data
    "tests/data/test_real_datasets.py::test_sizes_match_the_readme",  # data_dir
    "tests/metrics/test_metric_reference.py::test_fmi_pixel_matches_reference",  # reference_dir (+ data_dir)
]


def _pytest(tmp_path: Path, require: bool) -> subprocess.CompletedProcess:
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("FUSIONLAB_REQUIRE_DATA", "PYTEST_ADDOPTS")}
    env |= {"FUSIONLAB_DATA": str(empty), "FUSIONLAB_REFERENCE": str(empty), "OMP_NUM_THREADS": "1"}
    if require:
        env["FUSIONLAB_REQUIRE_DATA"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NODES],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[bool, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("no_data")
    return {require: _pytest(tmp, require) for require in (False, True)}


def test_missing_data_skips_with_a_summary_line(runs):
    run = runs[False]
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert out.rstrip().splitlines()[-1].startswith("1 passed, 2 skipped in"), out
    assert "SKIPPED [1] tests/conftest.py: real sample data not found at" in out, out  # folded at conftest
    summary = [line for line in out.splitlines() if line.startswith("real data: ")]
    assert len(summary) == 1 and "2 of 2 real-data test(s) skipped" in summary[0], out
    # why, and how to provide it: the missing folders and the variables
    assert "real sample data not found at" in summary[0] and "FUSIONLAB_DATA=" in summary[0], out
    assert "reference metric values not found at" in out and "FUSIONLAB_REFERENCE=" in out, out
    assert "python -m fusionlab.data download" in summary[0] and "../shared" in summary[0], out


def test_require_data_turns_the_skips_into_errors(runs):
    run = runs[True]
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert out.rstrip().splitlines()[-1].startswith("1 passed, 2 errors in"), out  # no skips
    assert "FUSIONLAB_REQUIRE_DATA is set but real sample data not found at" in out, out
    assert "FUSIONLAB_REQUIRE_DATA is set but reference metric values not found at" in out, out
    assert "real data: none of 2 real-data test(s) skipped" in out, out

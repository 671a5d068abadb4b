"""Shared test fixtures: offline environment, the real shared data (skipped where absent), config composition."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# Real data (issue 16). Tests that need the real sample data or the reference metric values get them from the
# `data_dir` / `reference_dir` fixtures, and carry the `real_data` marker (added below to every test using those
# fixtures; an explicit `@pytest.mark.real_data` makes a test require the data folder too). Where the data is
# absent they are skipped with one line naming what is missing; with FUSIONLAB_REQUIRE_DATA=1 (CI) that is an
# error instead. Nothing is read at import or collection time, so a bare clone always collects.
REAL_DATA_MARKER = "real_data"
REAL_DATA_FIXTURES = ("data_dir", "reference_dir")
DATASET_ROOTS = ("msrs", "m3fd", "roadscene", "harvard", "mef", "lytro")  # what ../shared/data holds
REFERENCE_FILE = "metrics_dev.csv"
SHARED_HINT = "or put the shared folder beside the repository as ../shared"


def shared_data_dir() -> Path:
    """``$FUSIONLAB_DATA`` or ``../shared/data`` beside the repository (CI has it); may not exist."""
    return Path(os.environ.get("FUSIONLAB_DATA") or REPO.parent / "shared" / "data")


def shared_reference_dir() -> Path:
    """``$FUSIONLAB_REFERENCE`` or ``../shared/reference`` beside the repository (CI has it); may not exist."""
    return Path(os.environ.get("FUSIONLAB_REFERENCE") or REPO.parent / "shared" / "reference")


def require_data() -> bool:
    return os.environ.get("FUSIONLAB_REQUIRE_DATA", "").strip().lower() not in ("", "0", "false", "no")


def missing_data() -> str | None:
    """One line naming what of the real sample data is missing and how to provide it; None when it is there."""
    path = shared_data_dir()
    absent = [key for key in DATASET_ROOTS if not (path / key).is_dir()]
    if not absent:
        return None
    if len(absent) == len(DATASET_ROOTS):
        what = f"real sample data not found at {path}"
    else:
        what = f"real sample data incomplete at {path} (missing {', '.join(absent)})"
    return (f"{what}: set FUSIONLAB_DATA=/path/to/data {SHARED_HINT}, "
            f"or fetch datasets with `python -m fusionlab.data download <key> --root {path}`")


def missing_reference() -> str | None:
    """One line naming the missing reference values and how to provide them; None when they are there."""
    path = shared_reference_dir() / REFERENCE_FILE
    if path.is_file():
        return None
    return f"reference metric values not found at {path}: set FUSIONLAB_REFERENCE=/path/to/reference {SHARED_HINT}"


_SKIP_MESSAGES: set[str] = set()  # the skip reasons given here, to fold them in the short summary


def _skip_or_fail(message: str | None) -> None:
    if message is None:
        return
    if require_data():
        pytest.fail(f"FUSIONLAB_REQUIRE_DATA is set but {message}", pytrace=False)
    _SKIP_MESSAGES.add(message)
    pytest.skip(message)


@pytest.fixture
def data_dir() -> Path:
    """The real sample data folder; skips the test (fails under FUSIONLAB_REQUIRE_DATA=1) where it is absent."""
    _skip_or_fail(missing_data())
    return shared_data_dir()


@pytest.fixture
def reference_dir() -> Path:
    """The reference metric values folder; skips (fails under FUSIONLAB_REQUIRE_DATA=1) where it is absent."""
    _skip_or_fail(missing_reference())
    return shared_reference_dir()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in REAL_DATA_FIXTURES):
            item.add_marker(REAL_DATA_MARKER)


def pytest_runtest_setup(item):
    # An explicitly marked test that does not ask for a real-data fixture still needs the data folder.
    if item.get_closest_marker(REAL_DATA_MARKER) and not any(
        name in getattr(item, "fixturenames", ()) for name in REAL_DATA_FIXTURES
    ):
        _skip_or_fail(missing_data())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A fixture's skip is reported at each test's own line; report ours at this file instead, so that `-ra`
    # folds them into one SKIPPED line per reason rather than one per test function.
    report = (yield).get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        if reason.removeprefix("Skipped: ") in _SKIP_MESSAGES:
            report.longrepr = (__file__, None, reason)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line, after the short summary and just above the counts: how many real-data tests were skipped, why."""
    yield
    reports = [r for key in ("passed", "failed", "skipped", "error")
               for r in terminalreporter.stats.get(key, ())
               if getattr(r, "when", None) in ("setup", "call") and REAL_DATA_MARKER in getattr(r, "keywords", {})]
    if not reports:
        return
    skipped = {r.nodeid: r for r in reports if r.skipped}
    total = len({r.nodeid for r in reports})
    if skipped:
        reasons = []
        for r in skipped.values():
            reason = r.longrepr[2] if isinstance(r.longrepr, tuple) else str(r.longrepr)
            reason = reason.removeprefix("Skipped: ")
            if reason not in reasons:
                reasons.append(reason)
        terminalreporter.write_line(
            f"real data: {len(skipped)} of {total} real-data test(s) skipped ({'; '.join(reasons)}); "
            "FUSIONLAB_REQUIRE_DATA=1 makes this an error", yellow=True)
    else:
        terminalreporter.write_line(f"real data: none of {total} real-data test(s) skipped (data: {shared_data_dir()}, "
                                    f"reference: {shared_reference_dir()})")


# Folders whose tests run on one intra-op thread:
# - metrics, baselines: many small float64 ops; on a shared 2-core CPU two threads mostly wait for each other
#   (measured 18 s with one thread, 166 s with two, under load);
# - scaling: runs are compared bit for bit across processes (a killed subprocess, DDP workers with one thread
#   each), and float reductions round differently with another thread count (2e-5 drift in EN measured).
SINGLE_THREAD_DIRS = {"metrics", "baselines", "scaling"}


@pytest.fixture(autouse=True)
def _seed_and_threads(request):
    torch.manual_seed(0)
    previous = torch.get_num_threads()
    if request.node.path.parent.name in SINGLE_THREAD_DIRS:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def compose(tmp_path):
    """Compose the real config with CLI-style overrides; the run folder is a temporary directory."""
    from fusionlab.config import compose as _compose

    def _do(*overrides: str, output_dir: Path | None = None):
        return _compose(list(overrides), output_dir=output_dir or tmp_path / "run")

    return _do


@pytest.fixture
def with_trainer_callback(monkeypatch):
    """``with_trainer_callback(cb)``: every trainer ``run_training`` builds gets ``cb`` too (e.g. one that spoils
    the weights before a validation, to test what selection keeps)."""
    from fusionlab.engine import run as run_module

    original = run_module.build_trainer

    def add(callback) -> None:
        def build(cfg):
            trainer = original(cfg)
            trainer.callbacks.append(callback)
            return trainer

        monkeypatch.setattr(run_module, "build_trainer", build)

    return add

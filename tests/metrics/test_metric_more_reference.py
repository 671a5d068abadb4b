"""Agreement with ``../shared/reference/metrics_more_dev.csv``: MEF-SSIM, Qy, Qc, Piella's family, CE, EI, RMSE, Qp.

A subset keeps CI fast: one pair per dataset (the smallest), both fusions, every metric, plus MEF ColorChecker,
whose saturated flat areas are the constant-window trap of Qy/Qc (plain float64 gives Qy 1.63 there instead of
0.665). The full table is ``python tests/metrics/more_reference.py``. The CSV is read inside the tests (through
the ``reference_dir`` fixture, which skips where ``../shared`` is absent), never at collection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from metric_reference import build_triple
from more_reference import MORE_METRICS, compare_more_row, load_more_rows, more_row_id, tolerance

from fusionlab.metrics._ops import gaussian_1d, local_moments
from fusionlab.metrics.similarity import yang_cvejic

SUBSET_PAIRS = {
    "msrs": "00004N",
    "m3fd": "01511",
    "roadscene": "FLIR_video_00727",
    "harvard/CT-MRI": "2005",
    "harvard/PET-MRI": "25015",
    "harvard/SPECT-MRI": "10007",
    "mef": "Arno",
    "lytro": "lytro-01",
}
SUBSET_IDS = [f"{d}/{p}/{fusion}" for d, p in SUBSET_PAIRS.items() for fusion in ("avg", "max")] + [
    "mef/ColorChecker/avg"
]


@pytest.fixture
def more_rows(reference_dir: Path, data_dir: Path) -> dict[str, dict[str, str]]:
    return {more_row_id(r): r for r in load_more_rows(reference_dir)}


@pytest.mark.parametrize("rid", SUBSET_IDS)
def test_more_metrics_match_reference(rid: str, more_rows: dict[str, dict[str, str]]) -> None:
    assert rid in more_rows, f"reference CSV has no row {rid}"
    row = more_rows[rid]
    result = compare_more_row(row)
    bad = {
        n: f"ours {ours!r} vs reference {ref!r} (rel {err:.2e} > {tolerance(n, row):.0e})"
        for n, (ours, ref, err) in result.items()
        if err > tolerance(n, row)
    }
    assert not bad, f"{rid}: {bad}"


def test_reference_covers_every_pair_and_metric(more_rows: dict[str, dict[str, str]]) -> None:
    assert len(more_rows) == 148
    assert {f"{r['dataset']}/{r['pair']}" for r in more_rows.values()} >= {f"{d}/{p}" for d, p in SUBSET_PAIRS.items()}
    assert all(set(MORE_METRICS) <= set(r) for r in more_rows.values())


def test_qc_documented_gap_is_whole_windows(more_rows: dict[str, dict[str, str]]) -> None:
    """The Qc gap on m3fd/02180/max is an integer number of windows (q exactly 1 here, 0 in the reference).

    Evidence for the explanation in ``more_reference.QC_CONSTANT_WINDOW_ROWS``: scaled by the number of
    windows that enter the mean, our sum and the reference's differ by a whole number, 46.
    """
    row = more_rows["m3fd/02180/max"]
    f, a, b = build_triple(row)
    ours = yang_cvejic(f, a, b)["Qc"].item()
    _, _, cov = local_moments([a, b, f], [(0, 2), (1, 2)], gaussian_1d(7, 1.5, f))
    windows = int((~torch.isnan(cov[(0, 2)] / (cov[(0, 2)] + cov[(1, 2)]))).sum())  # NaN (0/0) windows are dropped
    gap = (ours - float(row["Qc"])) * windows
    assert abs(gap - round(gap)) < 1e-4 and round(gap) == 46, gap

"""Agreement with the independent reference values in ``../shared/reference/metrics_dev.csv``.

A representative subset keeps CI fast: one image per dataset (all eight), both fusions (avg, max), both
conventions, every metric column, plus one FMI_pixel row. Convention-independent metrics are checked on the
``cddfuse`` rows only (the CSV holds identical values for ``tang``). The full table is
``python tests/metrics/metric_reference.py``.

The CSV is read by the ``reference_rows`` fixture, never at collection: the parameters are the subset's row ids,
so a clone without ``../shared`` collects these tests and skips them (``real_data``; see tests/conftest.py).
"""

from __future__ import annotations

import math

import pytest
from metric_reference import build_triple, compare_row, load_rows, row_id, tolerance

from fusionlab.metrics import METRICS, compute_metrics

# One image per dataset, the smallest where there is a choice (runtime), by (dataset, image).
SUBSET_IMAGES = {
    "msrs": "00004N",
    "m3fd": "01511",
    "roadscene": "FLIR_video_00727",
    "harvard/CT-MRI": "2005",
    "harvard/PET-MRI": "25015",
    "harvard/SPECT-MRI": "10007",  # the worst Qcb case (see metric_reference.QCB_MEDICAL_TOLERANCE)
    "mef": "Arno",
    "lytro": "lytro-01",
}
CONVENTION_METRICS = [n for n, spec in METRICS.items() if spec.by_convention]
# The subset's rows by id (dataset/image/fusion/convention): known without reading the CSV.
SUBSET_IDS = [f"{dataset}/{image}/{fusion}/{convention}" for dataset, image in SUBSET_IMAGES.items()
              for fusion in ("avg", "max") for convention in ("cddfuse", "tang")]


@pytest.fixture
def reference_rows(reference_dir, data_dir) -> list[dict[str, str]]:
    """The reference CSV's rows; skips (or fails under FUSIONLAB_REQUIRE_DATA=1) without the shared folder."""
    return load_rows()


def _metrics_for(row: dict[str, str]) -> list[str]:
    names = [n for n in METRICS if n != "FMI_pixel" and n in row]  # this CSV's columns (see more_reference.py)
    return names if row["convention"] == "cddfuse" else CONVENTION_METRICS


@pytest.mark.parametrize("rid", SUBSET_IDS)
def test_metrics_match_reference(rid: str, reference_rows: list[dict[str, str]]) -> None:
    rows = [r for r in reference_rows if row_id(r) == rid]
    assert len(rows) == 1, f"reference CSV has {len(rows)} rows {rid} (the subset expects one)"
    row = rows[0]
    result = compare_row(row, _metrics_for(row))
    bad = {
        n: f"ours {ours!r} vs reference {ref!r} (rel {err:.2e} > {tolerance(n, row):.0e})"
        for n, (ours, ref, err) in result.items()
        if err > tolerance(n, row)
    }
    assert not bad, f"{row_id(row)}: {bad}"


def test_fmi_pixel_matches_reference(reference_rows: list[dict[str, str]]) -> None:
    row = next(r for r in reference_rows if r["FMI_pixel"] and r["fusion"] == "max")
    ours, ref, err = compare_row(row, ["FMI_pixel"])["FMI_pixel"]
    assert err <= tolerance("FMI_pixel", row), f"{row_id(row)}: FMI_pixel {ours!r} vs {ref!r}"


def test_undefined_values_are_nan_in_both(reference_rows: list[dict[str, str]]) -> None:
    """SCD is undefined (NaN) where F - B is constant (MEF max fusion: F = B); we agree, with a warning."""
    row = next(r for r in reference_rows if r["SCD"].lower() == "nan" and r["dataset"] == "mef")
    f, a, b = build_triple(row)
    with pytest.warns(RuntimeWarning, match="SCD is undefined"):
        ours = compute_metrics(f, a, b, ["SCD"])["SCD"]
    assert math.isnan(ours.item())

"""Ablation studies: one table with one method per variant; bad study files are clear errors."""

from __future__ import annotations

import csv

import pytest

from fusionlab.engine.ablation import load_study, run_study


def test_study_runs_each_variant_into_one_table(tmp_path):
    study = {"name": "tiny", "base": ["+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,SD]",
                                      "eval.save_fused=false", "eval.suite=[synthetic/ivif]"],
             "variants": {"full": [], "no_ssim": ["loss.terms.ssim.weight=0"]}}
    run_study(study, tmp_path / "study")
    with open(tmp_path / "study" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["method"] for r in rows} == {"full", "no_ssim", "average", "gff"}  # reference rows once per study
    assert len([r for r in rows if r["method"] == "average"]) == len([r for r in rows if r["method"] == "full"])
    assert (tmp_path / "study" / "no_ssim" / "results.csv").is_file()
    assert "ablation: tiny" in (tmp_path / "study" / "results.md").read_text()


def test_shipped_studies_are_valid():
    from pathlib import Path

    for path in (Path(__file__).resolve().parents[2] / "experiments").glob("*.yaml"):
        assert load_study(path)["variants"]


def test_bad_study_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("variants: {a: loss.terms.ssim.weight=0}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: variants.a must be a list"):
        load_study(bad)
    with pytest.raises(FileNotFoundError, match="ablation study not found"):
        load_study(tmp_path / "missing.yaml")


def test_cli_takes_flags_and_overrides_in_any_order(tmp_path):
    from fusionlab.ablate import main

    study = tmp_path / "tiny.yaml"
    study.write_text("name: tiny\nbase: [+debug=fast, data.mode=synthetic, logger=csv]\n"
                     "variants: {full: [], no_ssim: [loss.terms.ssim.weight=0]}\n")
    main([str(study), "--out", str(tmp_path / "out"), "--only", "no_ssim", "eval.metrics=[EN]",
          "eval.save_fused=false", "eval.suite=[synthetic/mef]"])
    with open(tmp_path / "out" / "results.csv") as fh:
        assert {r["method"] for r in csv.DictReader(fh)} == {"no_ssim", "average", "gff"}

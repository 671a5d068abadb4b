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


def test_an_interrupted_study_resumes_with_its_finished_runs(tmp_path):
    """--resume reads back finished runs (results.csv) and trains only the missing ones; the table is whole."""
    from fusionlab.ablate import main

    study = tmp_path / "tiny.yaml"
    study.write_text("name: tiny\nseeds: [1, 2]\nbase: [+debug=fast, data.mode=synthetic, logger=csv, "
                     "'eval.metrics=[EN]', eval.save_fused=false, 'eval.suite=[synthetic/ivif]', 'methods=[average]']\n"
                     "variants: {full: [], no_ssim: [loss.terms.ssim.weight=0]}\n")
    out = tmp_path / "out"
    main([str(study), "--out", str(out), "--only", "full"])  # the study "stopped" after its first variant
    finished = out / "full" / "seed2" / "results.csv"
    stamp = finished.stat().st_mtime_ns
    main([str(study), "--out", str(out), "--resume"])
    assert finished.stat().st_mtime_ns == stamp  # read back, not trained again
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["method"] for r in rows} == {"full", "no_ssim", "average"}
    assert len([r for r in rows if r["method"] == "average"]) == len([r for r in rows if r["method"] == "no_ssim"]) // 2
    assert "| full | synthetic/ivif | 2 |" in (out / "seeds.md").read_text()
    # the picture people look at instead of the table (matplotlib: the `plots` extra, which `make` installs)
    from PIL import Image

    with Image.open(out / "seeds.png") as png:
        assert png.format == "PNG" and png.width >= 400 and png.height >= 200


def test_shipped_studies_are_valid(tmp_path):
    """Every variant of every committed study composes and builds its model and objective (the check the runner
    makes before training): a preset that changes under a study breaks this test, not a user's 40-minute run."""
    from pathlib import Path

    from fusionlab.engine.ablation import check_variants

    paths = sorted((Path(__file__).resolve().parents[2] / "experiments").glob("*.yaml"))
    assert len(paths) >= 5
    for path in paths:
        study = load_study(path)
        assert study["variants"]
        check_variants(study, list(study["variants"]), out_dir=tmp_path)


def test_a_broken_variant_is_named_before_any_variant_trains(tmp_path):
    from fusionlab.engine.ablation import run_study
    from fusionlab.errors import ConfigError

    study = {"name": "broken", "base": ["+experiment=ivif_zero_shot", "data.mode=synthetic"],
             "variants": {"fine": [], "bad": ["model.head=correction"]}}  # the default's base prior needs two_scale
    with pytest.raises(ConfigError, match="study broken, variant 'bad': model.base_prior"):
        run_study(study, tmp_path / "out")
    assert not (tmp_path / "out" / "fine").exists()  # nothing trained, nothing half-written


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
        assert {r["method"] for r in csv.DictReader(fh)} == {"no_ssim", "average", "gff", "mertens"}


def _rows(method, dataset, values, seed=None):
    row = {"method": method, "dataset": dataset, "task": "ivif", "image": "x", **values}
    return {**row, "seed": seed} if seed is not None else row


def test_win_counts_and_seed_summary(tmp_path):
    from fusionlab.engine.ablation import dataset_means, mean_std, win_counts, write_seed_summary

    rows = [_rows("average", "d", {"EN": 5.0, "SF": 10.0}), _rows("gff", "d", {"EN": 6.0, "SF": 12.0}),
            _rows("v", "d", {"EN": 6.5, "SF": 11.0}, seed=1), _rows("v", "d", {"EN": 5.5, "SF": 13.0}, seed=2)]
    means = dataset_means([r for r in rows if r.get("seed") in (None, 1)])
    assert win_counts(means, "v", ["average", "gff"], ["EN", "SF"]) == {"d": {"average": 2, "gff": 1, "all": 1}}
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    path = write_seed_summary(rows, tmp_path, ["v"], [1, 2], title="t")
    text = path.read_text()
    # seed 1 wins 1 of 2 against gff, seed 2 wins 1 (SF): 1.0 ± 0.0; against average 2 and 2
    assert "| v | d | 2 | 2.0 ± 0.0 | 1.0 ± 0.0 | 1.0 ± 0.0 |" in text
    assert "6.000 ± 0.707" in text  # EN over the two seeds

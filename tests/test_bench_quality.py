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


def _row(method: str, dataset: str, psnr: float, seed: int | None = None, image: int = 0) -> dict:
    row = {"method": method, "dataset": dataset, "image": f"{dataset.split('/')[-1]}_test_{image:04d}",
           "PSNR_gt": f"{psnr}"}
    return row if seed is None else {**row, "seed": seed}


def test_synthetic_table_means_over_seeds_and_flags_the_gap(bench):
    rows = [
        # model: two images per seed; seed means 21.0 and 23.0 -> 22.0 ± 1.414; image means 21.5 and 22.5
        _row("model", "synthetic/mff", 20.0, 1, 0), _row("model", "synthetic/mff", 22.0, 1, 1),
        _row("model", "synthetic/mff", 23.0, 2, 0), _row("model", "synthetic/mff", 23.0, 2, 1),
        _row("average", "synthetic/mff", 18.0, image=0), _row("average", "synthetic/mff", 20.0, image=1),
        _row("gff", "synthetic/mff", 22.5, image=0), _row("gff", "synthetic/mff", 22.5, image=1),
        _row("model", "synthetic/mef", 10.0, 1), _row("model", "synthetic/mef", 12.0, 2),
        _row("model", "synthetic/mef", 14.0, 1, 1), _row("model", "synthetic/mef", 14.0, 2, 1),
        _row("average", "synthetic/mef", 20.0), _row("gff", "synthetic/mef", 19.0),
        _row("average", "synthetic/mef", 20.0, image=1), _row("gff", "synthetic/mef", 19.0, image=1),
    ]  # fmt: skip
    lines = bench.synthetic_table(rows, ["average", "gff"], suite_pairs=1)
    assert lines[0].startswith("| dataset | pairs | model | average | gff | best rule | model − best (± se) |")
    assert lines[0].endswith("| first 1 pairs (the suite) |")
    mff = next(line for line in lines if line.startswith("| synthetic/mff"))
    # paired gaps to gff per image: 21.5 - 22.5 = -1.0 and 22.5 - 22.5 = 0.0 -> -0.50 ± 0.50; the first pair: -1.00
    assert mff == "| synthetic/mff | 2 | 22.00 ± 1.41 | 19.00 | 22.50 | gff | -0.50 ± 0.50 | yes | -1.00 ± nan |"
    mef = next(line for line in lines if line.startswith("| synthetic/mef"))
    # image means 11.0 and 14.0 against averaging's 20.0: -9.0 and -6.0
    assert mef == "| synthetic/mef | 2 | 12.50 ± 0.71 | 20.00 | 19.00 | average | -7.50 ± 1.50 | no | -9.00 ± nan |"


def test_synthetic_table_judges_every_pair_not_the_first_ones(bench):
    """The verdict reads the whole draw: a gap beyond 1 dB on the suite's first pairs alone does not decide it."""
    rows = []
    for i, gap in enumerate((-3.0, -2.0, 1.0, 1.0, 0.5, 0.5)):
        rows += [_row("model", "synthetic/mef", 20.0 + gap, 1, i), _row("average", "synthetic/mef", 20.0, image=i)]
    line = bench.synthetic_table(rows, ["average"], suite_pairs=2)[2]
    assert line.startswith("| synthetic/mef | 6 | 19.67 ± 0.00 | 20.00 | average | -0.33 ± 0.70 | yes | -2.50 ± 0.50 |")


def test_synthetic_table_skips_rows_without_ground_truth(bench):
    rows = [{"method": "model", "dataset": "msrs", "image": "a", "PSNR_gt": "", "seed": 1},
            _row("average", "msrs", 1.0)]
    assert len(bench.synthetic_table(rows, ["average"])) == 2  # header only


def test_suite_pairs_is_the_embedded_suites_test_length(bench):
    """The column "first 8 pairs (the suite)" is what `eval=synthetic` scores: the config's test length."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(BENCH.parents[1] / "conf" / "data" / "synthetic.yaml")
    assert cfg.options.synthetic.lengths.test == bench.SUITE_PAIRS
    assert bench.SYNTHETIC_PAIRS > bench.SUITE_PAIRS


def test_synthetic_pairs_below_two_is_refused(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--synthetic-pairs", "1"])
    assert "--synthetic-pairs must be at least 2" in capsys.readouterr().err


def test_evaluated_checkpoint_is_the_one_the_run_recorded(bench, tmp_path):
    (tmp_path / "results.md").write_text(
        "# results\n\nCheckpoint evaluated: /runs/x/checkpoints/epoch000-step64.ckpt, selected by best "
        "val/quality (max) = 0.6123.\n"
    )
    assert bench.evaluated_checkpoint(tmp_path) == "/runs/x/checkpoints/epoch000-step64.ckpt"
    (tmp_path / "results.md").write_text("# results\n")
    with pytest.raises(SystemExit, match="Checkpoint evaluated"):
        bench.evaluated_checkpoint(tmp_path)


def _img_row(method: str, dataset: str, image: str, values: list[float], seed: int | None = None) -> dict:
    row = {"method": method, "dataset": dataset, "image": image, **{m: f"{v}" for m, v in zip(("EN", "SD"), values)}}
    return row if seed is None else {**row, "seed": seed}


def test_resampling_table_counts_paired_resamples_against_the_target(bench):
    rows = []
    for k in range(6):
        img = f"i{k}"
        rows.append(_img_row("gff", "lytro", img, [1.0, 1.0]))
        # EN: the model wins on every image, so it is won in every resample. SD: the model wins by 0.1 on five
        # images and loses by 10 on i0, so it is lost on the full set and won exactly when i0 is not drawn.
        sd = -9.0 if k == 0 else 1.1
        rows += [_img_row("model", "lytro", img, [2.0, sd - 0.05], seed=1),
                 _img_row("model", "lytro", img, [2.0, sd + 0.05], seed=2)]
    lines = bench.resampling_table(rows, {"lytro": {"gff": 2}}, metrics=("EN", "SD"), resamples=4000, rng_seed=1)
    assert lines[0].startswith("| dataset | target | count here | P(met)")
    (row,) = lines[2:]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["lytro", "≥ 2/2 vs gff", "1"]  # SD lost on the mean of all six images
    # SD is won exactly when i0 is not drawn: P = (5/6)^6 = 0.335
    assert abs(float(cells[3]) - (5 / 6) ** 6) < 0.03
    assert cells[4:] == ["1", "1"]


def test_resampling_table_averages_the_model_over_seeds_and_skips_missing_rules(bench):
    rows = [_img_row("average", "msrs", "a", [1.0, 1.0]),
            _img_row("model", "msrs", "a", [0.0, 0.0], seed=1), _img_row("model", "msrs", "a", [3.0, 3.0], seed=2)]
    lines = bench.resampling_table(rows, {"msrs": {"average": 2, "gff": 2}}, metrics=("EN", "SD"), resamples=10)
    assert lines[2:] == ["| msrs | ≥ 2/2 vs average | 2 | 1.00 | 2 | 2 |"]  # seed mean 1.5 > 1.0; no gff rows


def test_resampling_table_reads_every_target_together(bench):
    """Two datasets, each won by the model on some images only: each target holds in some resamples, and all of
    them together only when both hold in the same resample (drawn independently per dataset)."""
    rows = []
    for dataset in ("lytro", "mef"):
        for k in range(6):
            img = f"i{k}"
            rows.append(_img_row("gff", dataset, img, [1.0, 1.0]))
            sd = -9.0 if k == 0 else 1.1  # SD lost on the full set, won when i0 is not drawn: P = (5/6)^6
            rows.append(_img_row("model", dataset, img, [2.0, sd], seed=1))

    def table(goals):
        lines = bench.resampling_table(rows, goals, metrics=("EN", "SD"), resamples=4000, rng_seed=3)
        return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]

    lytro, mef, joint = table({"lytro": {"gff": 2}, "mef": {"gff": 1}})
    assert mef[3] == "1.00"  # EN alone meets mef's target in every resample
    assert joint[:3] == ["all datasets", "all 2 targets together", "1 of 2 met"]
    assert float(joint[3]) == float(lytro[3]) and abs(float(joint[3]) - (5 / 6) ** 6) < 0.03
    assert joint[4:] == ["1", "1"]

    lytro, mef, joint = table({"lytro": {"gff": 2}, "mef": {"gff": 2}})
    assert joint[2] == "0 of 2 met"
    # both fragile, independently drawn: together about (5/6)^12, below either alone
    assert abs(float(joint[3]) - (5 / 6) ** 12) < 0.03 and float(joint[3]) < min(float(lytro[3]), float(mef[3]))


def test_resampling_table_has_no_joint_row_for_one_target(bench):
    rows = [_img_row("average", "msrs", "a", [1.0, 1.0]), _img_row("model", "msrs", "a", [2.0, 2.0], seed=1)]
    lines = bench.resampling_table(rows, {"msrs": {"average": 2}}, metrics=("EN", "SD"), resamples=10)
    assert len(lines) == 3


def test_margins_table_lists_the_near_ties_a_count_rests_on(bench):
    """EN is won by 0.5% (a near-tie, listed), SD by 50% (not listed); the count is 2 of 2 against a target of 1,
    so one won near-tie may flip: slack +1. The model is averaged over seeds before it is compared."""
    rows = []
    for k, (en, sd) in enumerate([(1.00, 1.0), (1.01, 2.0), (1.005, 1.5)]):
        img = f"i{k}"
        rows.append(_img_row("gff", "lytro", img, [1.0, 1.0]))
        rows += [_img_row("model", "lytro", img, [en - 0.001, 1.5 * sd], seed=1),
                 _img_row("model", "lytro", img, [en + 0.001, 1.5 * sd], seed=2)]
    lines = bench.margins_table(rows, {"lytro": {"gff": 1}}, metrics=("EN", "SD"))
    assert lines[0].startswith("| dataset | target | count here | slack | metric")
    (row,) = lines[2:]
    cells = [c.strip() for c in row.strip("|").split("|")]
    # EN: seed means 1.00 / 1.01 / 1.005 -> dataset mean 1.005; better than gff's 1.0 on 2 of 3 images
    assert cells == ["lytro", "≥ 1/2 vs gff", "2", "+1", "EN", "1.005", "1.000", "+0.50%", "2 of 3"]


def test_margins_table_reads_lower_is_better_metrics_and_lost_near_ties(bench):
    """RMSE is lower-is-better: 0.995 against 1.0 is won (+0.50%); SD lost by 0.4% is listed as -0.40%."""
    rows = [{"method": "average", "dataset": "msrs", "image": "a", "RMSE": "1.0", "SD": "10.0"},
            {"method": "model", "dataset": "msrs", "image": "a", "RMSE": "0.995", "SD": "9.96", "seed": 1}]
    lines = bench.margins_table(rows, {"msrs": {"average": 2}}, metrics=("RMSE", "SD"))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [c[4] for c in cells] == ["RMSE", "SD"]
    assert cells[0][2:4] == ["1", "-1"]  # RMSE won, SD lost: 1 of 2 against a target of 2
    assert (cells[0][7], cells[0][8]) == ("+0.50%", "1 of 1")
    assert (cells[1][7], cells[1][8]) == ("-0.40%", "0 of 1")


def test_margins_table_skips_targets_without_rows(bench):
    rows = [_img_row("average", "msrs", "a", [1.0, 1.0]), _img_row("model", "msrs", "a", [1.001, 3.0], seed=1)]
    lines = bench.margins_table(rows, {"msrs": {"gff": 2}, "lytro": {"gff": 4}}, metrics=("EN", "SD"))
    assert len(lines) == 2  # header only: no gff rows, no lytro rows


def _write_run(folder: Path, metrics, rows: list[tuple[str, str, str, float]], psnr: bool = False) -> None:
    """A finished run's results.csv: (method, dataset, image, value of every metric) per row; ``psnr`` adds
    PSNR_gt (10x the value), as the synthetic suite's runs write it."""
    folder.mkdir(parents=True)
    lines = [",".join(["method", "dataset", "task", "image", *metrics] + (["PSNR_gt"] if psnr else []))]
    for method, dataset, image, v in rows:
        lines.append(",".join([method, dataset, "ivif", image, *[str(v)] * len(metrics)] + ([str(v * 10)] if psnr else [])))
    (folder / "results.csv").write_text("\n".join(lines) + "\n")


def test_from_runs_retabulates_finished_runs_without_training(bench, tmp_path, monkeypatch, capsys):
    """Two finished seeds (the rules in the first, as the benchmark writes them): every table is rebuilt from the
    folders, nothing is trained or evaluated, and the original report is left alone."""
    def refuse(*args, **kwargs):
        raise AssertionError("--from-runs must not start a run")

    monkeypatch.setattr(bench, "train_run", refuse)
    monkeypatch.setattr(bench, "synthetic_run", refuse)
    runs = tmp_path / "bench"
    rules = [(rule, "msrs", img, 1.0) for rule in bench.RULES for img in ("a", "b")]
    head = bench.HEADLINE
    _write_run(runs / "seed1", head, rules + [("fusionnet-cnn", "msrs", "a", 2.0), ("fusionnet-cnn", "msrs", "b", 2.0)])
    _write_run(runs / "seed2", head, [("fusionnet-cnn", "msrs", "a", 0.5), ("fusionnet-cnn", "msrs", "b", 0.5)])
    _write_run(runs / "seed1_synthetic", head,
               [("average", "synthetic/ivif", "p0", 1.0), ("model", "synthetic/ivif", "p0", 1.2)], psnr=True)
    (runs / "quality.md").write_text("the original report\n")
    bench.main(["--from-runs", str(runs)])
    out = capsys.readouterr().out
    assert f"--from-runs {runs}` (seeds 1 2;" in out
    # seed 1 wins all 8 metrics against every rule, seed 2 none: 4.0 ± 5.7 over the two seeds
    assert "| model | msrs | 2 | 4.0 ± 5.7 | 4.0 ± 5.7 | 4.0 ± 5.7 | 4.0 ± 5.7 | 4.0 ± 5.7 | 4.0 ± 5.7 |" in out
    assert "| synthetic/ivif | 1 |" in out  # seed 1's synthetic folder is read; seed 2 has none
    assert (runs / "quality_from_runs.md").read_text() in out
    assert (runs / "quality.md").read_text() == "the original report\n"


def test_from_runs_refuses_a_folder_without_finished_runs_and_overrides(bench, tmp_path, capsys):
    with pytest.raises(SystemExit, match="no such folder"):
        bench.main(["--from-runs", str(tmp_path / "missing")])
    (tmp_path / "seed1").mkdir()  # started, never finished: no results.csv
    with pytest.raises(SystemExit, match=r"no finished run \(seed<N>/results.csv\)"):
        bench.main(["--from-runs", str(tmp_path)])
    with pytest.raises(SystemExit):
        bench.main(["--from-runs", str(tmp_path), "trainer.max_epochs=2"])
    assert "cannot change them" in capsys.readouterr().err

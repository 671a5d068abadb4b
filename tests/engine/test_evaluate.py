"""`fusionlab.evaluate`: checkpoints and classical baselines in one comparison table."""

from __future__ import annotations

import csv
import math

import pytest

from fusionlab.engine.checkpoints import load_evaluation_model
from fusionlab.engine.comparison import run_evaluation
from fusionlab.engine.run import run_training
from fusionlab.errors import CheckpointError, ConfigError

EVAL = ("data.mode=synthetic", "eval=synthetic", "logger=csv", "eval.metrics=[EN,SF,Qabf,SSIM]",
        "data.options.synthetic.eval_size=48", "data.options.synthetic.lengths.test=2")


def test_several_baselines_make_one_table(tmp_path):
    from fusionlab.config import compose

    cfg = compose(["methods=[average,max,gff]", *EVAL], config_name="evaluate", output_dir=tmp_path / "ev")
    run_evaluation(cfg)
    with open(tmp_path / "ev" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["method"] for r in rows} == {"average", "max", "gff"}
    assert len(rows) == 3 * 4 * 2
    md = (tmp_path / "ev" / "results.md").read_text()
    assert md.count("**") >= 2  # best values marked when several methods are compared
    assert (tmp_path / "ev" / "methods" / "gff" / "fused" / "synthetic" / "mef").is_dir()
    # the max rule is what intensity-max means: on IVIF its EN differs from the average's
    en = {r["method"]: float(r["EN"]) for r in rows if r["dataset"] == "synthetic/ivif" and r["image"].endswith("0000")}
    assert all(math.isfinite(v) for v in en.values()) and en["average"] != en["max"]


def test_checkpoint_rebuilds_from_its_run_config(compose, tmp_path):
    run_dir = tmp_path / "train"
    cfg = compose("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN]", "model.backbone.width=8",
                  output_dir=run_dir)
    out = run_training(cfg)
    (run_dir / ".hydra").mkdir()
    from omegaconf import OmegaConf

    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    from fusionlab.config import compose as compose_eval

    ecfg = compose_eval([f"ckpt_path={out['ckpt_path']}", "methods=[average]", *EVAL], config_name="evaluate",
                        output_dir=tmp_path / "ev")
    run_evaluation(ecfg)  # the evaluate config's default width (16) is overridden by the run's own (8)
    with open(tmp_path / "ev" / "results.csv") as fh:
        assert {r["method"] for r in csv.DictReader(fh)} == {"fusionnet-cnn", "average"}


def test_checkpoint_errors(compose, tmp_path):
    cfg = compose("+debug=fast")
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.ckpt"):
        load_evaluation_model(tmp_path / "nope.ckpt", cfg.model)
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*broken.ckpt.*truncated"):
        load_evaluation_model(broken, cfg.model)


def test_nothing_to_evaluate(tmp_path):
    from fusionlab.config import compose

    cfg = compose(list(EVAL), config_name="evaluate", output_dir=tmp_path / "ev")
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        run_evaluation(cfg)


def test_console_table_marks_metrics_outside_a_tasks_set_instead_of_nan():
    """MEF_SSIM is not measured on IVIF: the console shows '-', while a measured-but-undefined value stays nan."""
    from rich.console import Console

    from fusionlab.engine.results import console_table

    rows = [{"method": "avg", "dataset": "msrs", "task": "ivif", "image": "1", "EN": 6.0, "SSIM": float("nan")},
            {"method": "avg", "dataset": "mef", "task": "mef", "image": "1", "EN": 7.0, "MEF_SSIM": 0.9, "SSIM": 1.0}]
    console = Console(width=200, record=True)
    console.print(console_table(rows, ["EN", "MEF_SSIM", "SSIM"]))
    lines = {ln.split("│")[2].strip(): ln for ln in console.export_text().splitlines() if ln.count("│") > 4}
    msrs = [c.strip() for c in lines["msrs"].split("│")]
    mef = [c.strip() for c in lines["mef"].split("│")]
    assert msrs[-4:-1] == ["6.0000", "-", "nan"]
    assert mef[-4:-1] == ["7.0000", "0.9000", "1.0000"]


def test_console_shows_every_headline_metric(tmp_path, capsys):
    """The end-of-run console table shows all 8 headline metrics (SCD was missing while the win counts used it)."""
    from fusionlab.engine.report import ResultsWriter
    from fusionlab.engine.validation import HEADLINE_METRICS

    values = {m: 1.0 + i for i, m in enumerate(HEADLINE_METRICS)}
    rows = [{"method": "avg", "dataset": "msrs", "task": "ivif", "image": "1", **values, "CE": 0.5}]
    ResultsWriter(str(tmp_path), "cddfuse", "t")(None, rows, {})
    header = next(ln for ln in capsys.readouterr().out.splitlines() if "method" in ln)
    columns = [c.strip() for c in header.replace("┃", "|").split("|") if c.strip()]
    assert columns == ["method", "dataset", "task", "n", *HEADLINE_METRICS]


def test_grids_are_capped_previews(tmp_path) -> None:
    """A grid wider than GRID_MAX_WIDTH is scaled down as a whole (aspect kept); a narrow one stays as it is."""
    import torch
    from PIL import Image

    from fusionlab.engine.results import GRID_MAX_WIDTH, write_grids

    wide = torch.rand(3, 300, GRID_MAX_WIDTH + 952)
    narrow = torch.rand(3, 40, 60)
    paths = write_grids({"big": [wide, wide], "small": [narrow]}, tmp_path)
    big, small = (Image.open(p).size for p in paths)
    height = round(300 * GRID_MAX_WIDTH / (GRID_MAX_WIDTH + 952))
    assert big == (GRID_MAX_WIDTH, 2 * height + 4)
    assert small == (60, 40)


def test_methods_share_each_pairs_source_work(tmp_path, monkeypatch):
    """A multi-method evaluation computes what the metrics need from the sources once per pair, not per method:
    Qp's source phase congruency is built once for each of the 2 x 4 pairs, though 3 methods are scored on each."""
    from fusionlab.config import compose
    from fusionlab.metrics import phase

    calls = []
    original = phase._source_features
    monkeypatch.setattr(phase, "_source_features", lambda a, b: calls.append(a.shape) or original(a, b))
    cfg = compose(["methods=[average,max,gff]", *EVAL[:3], "eval.metrics=[EN,Qp]", *EVAL[4:]],
                  config_name="evaluate", output_dir=tmp_path / "ev")
    run_evaluation(cfg)
    with open(tmp_path / "ev" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 4 * 2 and all(math.isfinite(float(r["Qp"])) for r in rows)
    assert len(calls) == 4 * 2

"""The one evaluation path (issue 11): every consumer, every strategy, one table; bugs look like bugs."""

from __future__ import annotations

import csv
import os

import pytest
import torch

from fusionlab.engine.checkpoints import load_evaluation_model, read_checkpoint
from fusionlab.engine.comparison import run_evaluation
from fusionlab.engine.run import run_training
from fusionlab.errors import CheckpointError, ConfigError

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,SF,Qabf]", "model.backbone.width=8")


def _rows(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_checkpoints_carry_their_model_and_fold_the_ema(compose, tmp_path):
    out = run_training(compose(*FAST, "optim=bilevel", "loss=pixel_rec", "optim.ema_decay=0.5",
                               "trainer.max_steps=4", output_dir=tmp_path / "r"))
    ckpt = read_checkpoint(tmp_path / "r" / "checkpoints" / "last.ckpt")
    info = ckpt["fusionlab"]
    assert info["model"]["backbone"]["width"] == 8 and info["method_name"] == "fusionnet-cnn"
    module = out["module"]
    with module.ema.applied():  # the stored evaluation weights are the EMA's, under the model's own names
        expected = {k: v.clone() for k, v in module.model.state_dict().items()}
    assert set(info["eval_state_dict"]) == set(expected)
    loaded = load_evaluation_model(tmp_path / "r" / "checkpoints" / "last.ckpt")  # no .hydra needed
    for k, v in loaded.model.state_dict().items():
        torch.testing.assert_close(v, expected[k])


def test_evaluate_a_training_checkpoint_with_the_reference_rows_of_train(compose, tmp_path):
    run_training(compose(*FAST, "test=false", output_dir=tmp_path / "r"))
    from fusionlab.config import compose as compose_any

    cfg = compose_any([f"ckpt_path={tmp_path / 'r' / 'checkpoints' / 'last.ckpt'}", "methods=[average]",
                       "eval=synthetic", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,SF,Qabf]",
                       "data.options.synthetic.eval_size=48", "data.options.synthetic.lengths.test=2"],
                      config_name="evaluate", output_dir=tmp_path / "ev")
    out = run_evaluation(cfg)
    assert {r["method"] for r in out["rows"]} == {"fusionnet-cnn", "average"}
    assert (tmp_path / "ev" / "methods" / "fusionnet-cnn" / "fused" / "synthetic" / "ivif").is_dir()


def test_overlapped_scoring_gives_the_same_table_and_raises_in_the_main_thread(tmp_path, monkeypatch):
    """eval.overlap scores in a worker thread while the next batch is fused: same rows, same order; a metric
    failure in the worker still stops the run with its own error."""
    from fusionlab.config import compose as compose_any

    def evaluate(out: str, *extra: str) -> list[dict]:
        cfg = compose_any(["methods=[average,max,gff]", "eval=synthetic", "data.mode=synthetic", "logger=csv",
                           "eval.metrics=[EN,SF,Qabf,SSIM]", "data.options.synthetic.eval_size=48",
                           "data.options.synthetic.lengths.test=3", *extra], config_name="evaluate",
                          output_dir=tmp_path / out)
        return run_evaluation(cfg)["rows"]

    overlapped, sequential = evaluate("on", "eval.overlap=true"), evaluate("off", "eval.overlap=false")
    assert len(overlapped) == 3 * 4 * 3  # 3 methods x 4 synthetic tasks x 3 images
    assert overlapped == sequential

    import fusionlab.engine.evaluation as evaluation

    def broken(*args, **kwargs):
        raise ArithmeticError("metric failed in the scoring thread")

    monkeypatch.setattr(evaluation, "score", broken)
    with pytest.raises(ArithmeticError, match="scoring thread"):
        evaluate("broken", "eval.overlap=true")


def test_a_resumed_run_has_no_duplicated_rows(compose, tmp_path):
    run_dir = tmp_path / "r"
    first = compose(*FAST, "test=false", "trainer.max_steps=2", output_dir=run_dir)
    run_training(first)
    resumed = compose(*FAST, "ckpt_path=last", "trainer.max_steps=4", "trainer.max_epochs=2", output_dir=run_dir)
    run_training(resumed)
    rows = _rows(run_dir / "results.csv")
    keys = [(r["method"], r["dataset"], r["image"]) for r in rows]
    assert len(keys) == len(set(keys)) == (3 * 4 + 2) * 2  # (model, average, gff) x 4 tasks + mertens x (MEF, MFF)


def test_finished_results_are_never_overwritten(compose, tmp_path):
    cfg = compose(*FAST, output_dir=tmp_path / "r")
    run_training(cfg)
    before = (tmp_path / "r" / "results.csv").read_text()
    with pytest.raises(FileExistsError, match="already holds results.csv"):
        run_training(cfg)
    assert (tmp_path / "r" / "results.csv").read_text() == before


def test_undefined_metrics_are_left_out_of_the_table_with_a_note(compose, tmp_path):
    run_training(compose(*FAST, "eval.metrics=[EN,MS_SSIM]", output_dir=tmp_path / "r"))
    md = (tmp_path / "r" / "results.md").read_text()
    assert "Left out: MS_SSIM" in md and "| MS_SSIM" not in md  # 48 px images: five scales do not fit


def test_ablation_variant_checkpoint_rebuilds_that_variant(tmp_path):
    from fusionlab.engine.ablation import run_study

    study = {"name": "widths", "base": list(FAST), "variants": {"narrow": ["model.backbone.width=4"],
                                                               "wide": ["model.backbone.width=12"]}}
    run_study(study, tmp_path / "study")
    for name, width in (("narrow", 4), ("wide", 12)):
        assert (tmp_path / "study" / name / ".hydra" / "config.yaml").is_file()
        model = load_evaluation_model(tmp_path / "study" / name / "checkpoints" / "last.ckpt").model
        assert model.backbone.out_channels[0] == width


def test_a_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "callback": os.getcwd}, path)  # a pickled callable: weights_only refuses it
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*evil.ckpt"):
        read_checkpoint(path)


def test_one_key_per_concept_and_no_silent_fallbacks(compose, tmp_path):
    with pytest.raises(ConfigError, match="optim.scheduler.name must be one of cosine, none, got 'cosin'"):
        run_training(compose(*FAST, "optim.scheduler.name=cosin", output_dir=tmp_path / "a"))
    with pytest.raises(ConfigError, match="set optim.gradient_clip_val"):
        run_training(compose(*FAST, "+trainer.gradient_clip_val=1.0", output_dir=tmp_path / "b"))
    with pytest.raises(ConfigError, match="methods: unknown classical method"):
        run_training(compose(*FAST, "methods=[nope]", output_dir=tmp_path / "c"))


def test_joint_mode_clips_with_the_optim_key(compose, tmp_path, monkeypatch):
    from fusionlab.engine.module import FusionModule

    calls = []
    original = FusionModule.clip_gradients
    monkeypatch.setattr(FusionModule, "clip_gradients",
                        lambda self, opt, **kw: (calls.append(kw["gradient_clip_val"]), original(self, opt, **kw)))
    run_training(compose(*FAST, "optim.gradient_clip_val=0.5", "test=false", output_dir=tmp_path / "r"))
    assert calls and set(calls) == {0.5}


def test_preset_method_names_follow_the_backbone(compose):
    assert compose("+experiment=unifusion", "model/backbone=cnn").method_name == "unifusion-cnn"
    assert compose("+experiment=decc", "model/backbone=ssm").method_name == "decc-ssm"


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(capsys):
    from fusionlab.cli import run_cli

    def user_mistake():
        raise ConfigError("optim.mode must be one of joint, bilevel, alternating, got 'x'")

    with pytest.raises(SystemExit) as exit_info:
        run_cli(user_mistake)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: optim.mode must be one of joint, bilevel, alternating, got 'x'"

    def bug():
        raise ValueError("an internal invariant broke")  # not a fusionlab error type: a bug

    with pytest.raises(ValueError, match="an internal invariant broke"):
        run_cli(bug)

"""The evaluated checkpoint is chosen by the validation quality criterion, never by the test suite (issue 15)."""

from __future__ import annotations

import csv

import lightning as L
import torch

from fusionlab.engine.run import run_training
from fusionlab.engine.validation import HEADLINE_METRICS

FAST = ("+debug=fast", "data.mode=synthetic", "logger=csv", "eval.metrics=[EN,Qabf]", "trainer.max_steps=-1",
        "trainer.max_epochs=2", "data.samples_per_epoch=8")


class _RuinWeights(L.Callback):
    """Add noise to the weights before a validation during fit (``epoch``: only that epoch's; None: every one), so
    that checkpoint is clearly worse than the ones before it."""

    def __init__(self, epoch: int | None = None) -> None:
        self.epoch = epoch

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit" and self.epoch in (None, trainer.current_epoch):
            with torch.no_grad():
                for p in pl_module.model.parameters():
                    p.add_(torch.randn_like(p))


def test_validation_quality_picks_the_better_of_two_checkpoints(compose, tmp_path, with_trainer_callback):
    with_trainer_callback(_RuinWeights(epoch=1))
    out = run_training(compose(*FAST, output_dir=tmp_path / "r"))
    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        quality = [float(r["val/quality"]) for r in csv.DictReader(fh) if r.get("val/quality")]
    assert len(quality) == 2 and quality[0] > quality[1]  # the ruined epoch scores lower
    assert "epoch000" in out["ckpt_path"]  # so the first epoch's checkpoint is the one evaluated
    md = (tmp_path / "r" / "results.md").read_text()
    assert f"Checkpoint evaluated: {out['ckpt_path']}, selected by best val/quality (max) = {quality[0]:.4f}" in md


def test_validation_logs_the_headline_metrics_per_dataset_and_mean(compose, tmp_path):
    run_training(compose(*FAST, "trainer.max_epochs=1", output_dir=tmp_path / "r"))
    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        logged = {k for r in csv.DictReader(fh) for k, v in r.items() if v}
    for metric in HEADLINE_METRICS:
        assert f"val/synthetic/ivif/{metric}" in logged and f"val/mean/{metric}" in logged
    assert {"val/quality", "val/loss"} <= logged
    assert not any(k.startswith("val/synthetic/mef") for k in logged)  # only the training task validates


def test_a_tiny_real_validation_split_is_joined_by_its_tasks_synthetic_set(compose, data_dir):
    """The generic rule, for a validation list that names the real set alone (the IVIF recipes name both)."""
    from fusionlab.engine.run import build_datamodule

    dm = build_datamodule(compose("+experiment=ivif_zero_shot", f"paths.data_dir={data_dir}", "data.mode=real",
                                  "data.val=[msrs]"))
    dm.setup("fit")
    assert len(dm._val["msrs"]) < dm.min_val_images  # the shared sample: one validation pair
    assert list(dm.val_names) == ["msrs", "synthetic/ivif"]  # never a test dataset
    dm = build_datamodule(compose("+experiment=ivif_zero_shot", f"paths.data_dir={data_dir}", "data.mode=real",
                                  "data.val=[msrs]", "data.min_val_images=1"))
    dm.setup("fit")
    assert list(dm.val_names) == ["msrs"]


def _msrs_root(root, train_pairs: int):
    """An MSRS layout of tiny random pairs: ``train_pairs`` training pairs and two test pairs."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", train_pairs), ("test", 2)):
        for i in range(n):
            for side, shape in (("ir", (80, 80)), ("vi", (80, 80, 3))):
                path = root / "msrs" / split / side / f"{split}{i:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return root


def test_the_ivif_recipes_validate_on_synthetic_ivif_whatever_the_size_of_the_msrs_slice(compose, tmp_path):
    """With 40 MSRS training pairs the validation slice holds 4 (>= data.min_val_images), so the joining rule
    alone would validate on MSRS only, a different criterion from the one the recipe's numbers were selected by
    (on MSRS alone IVIF training keeps later epochs, which cost the zero-shot targets: docs/quality.md). The
    recipes name the synthetic IVIF set themselves, so every data root selects on the same two sets."""
    from fusionlab.engine.run import build_datamodule

    root = _msrs_root(tmp_path / "data", train_pairs=40)
    for experiment, expected in (("ivif_zero_shot", ["msrs", "synthetic/ivif"]),
                                 ("decc", ["msrs", "synthetic/ivif"]),
                                 ("gifnet", ["msrs", "synthetic/mff", "synthetic/ivif"])):
        dm = build_datamodule(compose(f"+experiment={experiment}", f"paths.data_dir={root}", "data.mode=real",
                                      "eval.suite=[msrs]"))
        dm.setup("fit")
        assert len(dm._val["msrs"]) == 4 >= dm.min_val_images, experiment
        assert list(dm.val_names) == expected, experiment
    dm = build_datamodule(compose("+experiment=ivif_zero_shot", f"paths.data_dir={root}", "data.mode=real",
                                  "eval.suite=[msrs]", "data.val=null"))
    dm.setup("fit")
    assert list(dm.val_names) == ["msrs"]  # what the joining rule alone gives on this root


def test_without_real_data_the_ivif_recipe_validates_on_synthetic_ivif_once(compose):
    from fusionlab.engine.run import build_datamodule

    dm = build_datamodule(compose("+experiment=ivif_zero_shot", "data.mode=synthetic"))
    dm.setup("fit")
    assert list(dm.val_names) == ["synthetic/ivif"]  # msrs's stand-in and the named set are one set


def test_a_negative_min_val_images_is_a_clear_error(compose):
    import pytest

    from fusionlab.cli import user_error_message
    from fusionlab.engine.run import build_datamodule

    with pytest.raises(Exception) as info:  # Hydra wraps the constructor's error; the CLI shows its one line
        build_datamodule(compose("+debug=fast", "data.min_val_images=-1"))
    assert user_error_message(info.value) == "data.min_val_images must be >= 0, got -1"


def test_ground_truth_psnr_is_logged_where_a_validation_set_has_targets():
    """``val/<dataset>/PSNR_gt``: the mean PSNR of the 8-bit fused images against their targets (computed here
    independently), only for sets whose batches carry a target; ``val/quality`` does not read it."""
    from fusionlab.engine.evaluation import score
    from fusionlab.engine.validation import QUALITY_KEY, QUALITY_METRICS, ValidationScores

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    target = 0.5 * (a + b)
    fused = (target + 0.05 * torch.randn(2, 1, 32, 32, generator=g)).clamp(0, 1)

    def run(with_target: bool) -> dict[str, float]:
        scores = ValidationScores(QUALITY_METRICS, convention="cddfuse")
        scores.start(["with_gt", "without_gt"], torch.device("cpu"))
        batch = {"a": a, "b": b, **({"target": target} if with_target else {})}
        scores.update("with_gt", fused, batch, score(fused, batch, QUALITY_METRICS, "cddfuse"), None)
        plain = {"a": a, "b": b}
        scores.update("without_gt", fused, plain, score(fused, plain, QUALITY_METRICS, "cddfuse"), None)
        return scores.compute(with_loss=False)

    out = run(with_target=True)
    q = lambda x: torch.round(x.double() * 255)  # noqa: E731 - the 8-bit values a saved PNG holds
    mse = ((q(fused) - q(target)) ** 2).mean((1, 2, 3))
    expected = float((10 * torch.log10(255.0**2 / mse)).mean())
    assert abs(out["val/with_gt/PSNR_gt"] - expected) < 1e-6
    assert "val/without_gt/PSNR_gt" not in out
    assert out[QUALITY_KEY] == run(with_target=False)[QUALITY_KEY]


def test_a_run_logs_and_can_select_on_ground_truth_psnr(compose, tmp_path):
    """The embedded synthetic validation pairs have targets: a run logs their PSNR_gt every epoch, and the checkpoint
    monitor can read it (README, *Model selection*)."""
    out = run_training(compose(*FAST, "callbacks.model_checkpoint.monitor=val/synthetic/ivif/PSNR_gt",
                               output_dir=tmp_path / "r"))
    with open(tmp_path / "r" / "csv" / "metrics.csv") as fh:
        psnr = [float(r["val/synthetic/ivif/PSNR_gt"]) for r in csv.DictReader(fh) if r.get("val/synthetic/ivif/PSNR_gt")]
    assert len(psnr) == 2 and all(5.0 < p < 60.0 for p in psnr)
    best = 0 if psnr[0] >= psnr[1] else 1
    assert f"epoch00{best}" in out["ckpt_path"]
    assert "selected by best val/synthetic/ivif/PSNR_gt (max)" in (tmp_path / "r" / "results.md").read_text()


def _quality_rows(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as fh:
        return [(int(r["step"]), float(r["val/quality"])) for r in csv.DictReader(fh) if r.get("val/quality")]


def test_the_initial_weights_are_kept_when_no_epoch_validates_better(compose, tmp_path, with_trainer_callback):
    """callbacks.model_checkpoint.include_initial=true: the weights training starts from are validated at step 0 and
    stay the evaluated checkpoint when every epoch scores lower (README, *Model selection*)."""
    with_trainer_callback(_RuinWeights())  # no trained epoch can match the start
    run_dir = tmp_path / "r"
    out = run_training(compose(*FAST, "callbacks.model_checkpoint.include_initial=true", output_dir=run_dir))
    quality = _quality_rows(run_dir)
    assert [s for s, _ in quality][0] == 0 and len(quality) == 3  # step 0, then one per epoch
    assert quality[0][1] > max(q for _, q in quality[1:])
    assert out["ckpt_path"].endswith("initial.ckpt") and (run_dir / "checkpoints" / "initial.ckpt").is_file()
    md = (run_dir / "results.md").read_text()
    assert f"initial.ckpt, selected by best val/quality (max) = {quality[0][1]:.4f}" in md
    assert [r for r in out["rows"] if r["method"] not in ("average", "gff", "mertens")]  # the kept weights evaluate


def test_an_epoch_that_validates_better_replaces_the_initial_weights(compose, tmp_path):
    """Without sabotage an epoch that beats the start is kept, and the initial checkpoint is removed like any
    checkpoint that drops out of the top k; training draws the same samples as without the option."""
    run_training(compose(*FAST, output_dir=tmp_path / "plain"))
    run_dir = tmp_path / "r"
    out = run_training(compose(*FAST, "callbacks.model_checkpoint.include_initial=true", output_dir=run_dir))
    quality = _quality_rows(run_dir)
    best = max(range(len(quality)), key=lambda i: quality[i][1])
    if best == 0:  # the start validated best after all: it is the one kept
        assert out["ckpt_path"].endswith("initial.ckpt")
    else:
        assert f"epoch00{best - 1}" in out["ckpt_path"]
        assert not (run_dir / "checkpoints" / "initial.ckpt").exists()
    # the initial validation runs under a forked RNG: the trained weights are those of a run without it
    a = torch.load(tmp_path / "plain" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_loss_kernel_first_built_in_inference_mode_still_trains():
    """Validation can run before the first training step (include_initial): a filter kernel cached while scoring
    val/loss under inference mode must not be an inference tensor that training cannot save for backward."""
    from fusionlab.losses import ops

    ops._sobel_kernels.cache_clear()
    ops._gaussian_window.cache_clear()
    x = torch.rand(1, 1, 16, 16)
    with torch.inference_mode():
        ops.sobel_magnitude(x)
        ops.ssim_map(x, x)
    y = torch.rand(1, 1, 16, 16, requires_grad=True)
    (ops.sobel_magnitude(y).mean() + ops.ssim_map(y, x).mean()).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_a_resumed_run_keeps_the_initial_candidate_without_validating_again(compose, tmp_path,
                                                                           with_trainer_callback):
    """Resuming (ckpt_path=last) restores the callback's candidates from the checkpoint: the initial weights'
    score survives the interruption and the start is not validated a second time (it no longer exists)."""
    with_trainer_callback(_RuinWeights())  # no trained epoch can match the start
    run_dir = tmp_path / "r"
    opt = "callbacks.model_checkpoint.include_initial=true"
    run_training(compose(*FAST, opt, "test=false", "trainer.max_epochs=1", output_dir=run_dir))
    first = _quality_rows(run_dir)
    out = run_training(compose(*FAST, opt, "ckpt_path=last", output_dir=run_dir))
    quality = _quality_rows(run_dir)
    assert [s for s, _ in quality].count(0) == 1 and len(quality) == len(first) + 1  # one more epoch, no new step 0
    assert out["ckpt_path"].endswith("initial.ckpt")


def test_include_initial_must_be_a_boolean(tmp_path):
    """Through the real CLI: a value that is not true/false is refused by name before anything is written."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run([sys.executable, "-m", "fusionlab.train", "+experiment=ivif_zero_shot", *FAST,
                           "callbacks.model_checkpoint.include_initial=maybe", f"hydra.run.dir={tmp_path / 'r'}"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "callbacks.model_checkpoint.include_initial must be true or false, got 'maybe'" in proc.stderr + proc.stdout
    assert not (tmp_path / "r" / "results.csv").exists()

"""experiments/epoch_targets.py (behind docs/quality.md, *Selection that does not depend on the sample size*): issue
#12's targets for every epoch's checkpoint of a run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))
sys.path.insert(0, str(REPO / "tests" / "docs"))
import epoch_targets as script  # noqa: E402

HEADLINE = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM")
TARGETS = {"msrs": {"average": 7, "gff": 7}, "lytro": {"gff": 4}}


def _row(method: str, dataset: str, image: str, value: float) -> dict:
    return {"method": method, "dataset": dataset, "image": image, **{m: str(value) for m in HEADLINE}}


def test_counts_compare_dataset_means_and_the_table_stars_missed_targets():
    """The model wins every metric on MSRS (its mean is above both rules' on every metric, though it loses one
    image) and none on Lytro; a dataset the model was not scored on reads as '-' and counts as not met."""
    model = [_row("model", "msrs", "a", 2.0), _row("model", "msrs", "b", 0.5), _row("model", "lytro", "a", 0.1)]
    rules = [_row(r, "msrs", i, 1.0) for r in ("average", "gff") for i in "ab"] + [_row("gff", "lytro", "a", 0.2)]
    counts = script.bench.target_counts(model + rules, TARGETS, HEADLINE)
    assert counts == {("msrs", "average"): 8, ("msrs", "gff"): 8, ("lytro", "gff"): 0}
    lines = script.table([(0, 1.25, counts), (1, None, {("msrs", "average"): 6})], TARGETS)
    assert lines[0] == "| epoch | val/quality | targets met | msrs vs average | msrs vs gff | lytro vs gff |"
    assert lines[2] == "| 0 | 1.2500 | 2 of 3 | 8 | 8 | 0* |"
    assert lines[3] == "| 1 | - | 0 of 3 | 6* | - | - |"


def test_a_run_without_epoch_checkpoints_says_how_to_keep_them(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").touch()
    with pytest.raises(SystemExit, match=r"no checkpoints/epoch\*\.ckpt under .*save_top_k=-1"):
        script.main([str(tmp_path)])


@pytest.mark.slow
@pytest.mark.real_data
def test_every_epoch_of_a_trained_run_is_scored_on_the_real_suite(tmp_path, data_dir):
    """A two-epoch run trained through the CLI (tiny sizes, every checkpoint kept), then the script through its own
    CLI on a 96 px miniature of the real samples: one row per epoch with the run's val/quality and a count for each
    of the 14 targets; a second call reuses the evaluations."""
    from doc_helpers import command_env, mini_data

    run = tmp_path / "run"
    train = [sys.executable, "-m", "fusionlab.train", "+experiment=ivif_zero_shot", "data.mode=synthetic",
             "trainer.max_epochs=2", "data.samples_per_epoch=4", "data.batch_size=2", "data.patch_size=32",
             "callbacks.model_checkpoint.save_top_k=-1", "eval.suite=[synthetic/ivif]", "logger=csv",
             "data.options.synthetic.eval_size=32", "data.options.synthetic.lengths={train:8,val:2,test:1}",
             f"hydra.run.dir={run}"]
    env = command_env()
    proc = subprocess.run(train, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mini = mini_data(data_dir, tmp_path / "mini")
    argv = [sys.executable, "experiments/epoch_targets.py", str(run), "--data-dir", str(mini)]
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    rows = re.findall(r"^\| (\d) \| (\d\.\d{4}) \| (\d+) of 14 \|((?: [0-9]+\*? \|){14})$", proc.stdout, re.M)
    assert [r[0] for r in rows] == ["0", "1"], proc.stdout
    assert (run / "epoch_targets" / "epoch_targets.md").read_text().strip() in proc.stdout
    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "$ " not in again.stdout  # nothing evaluated twice
    assert re.findall(r"^\| \d \| .*$", again.stdout, re.M) == re.findall(r"^\| \d \| .*$", proc.stdout, re.M)

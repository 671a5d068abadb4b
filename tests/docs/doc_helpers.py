"""Helpers for running the documented commands (tests/docs): size overrides, a subprocess runner, the files a
command names, and a miniature of the real sample data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]

# Size-only overrides (DESIGN: tests may shrink a run, never switch a feature off). They are appended to the
# documented command, so they win over the experiment's sizes; everything the command turns on stays on
# (baselines, loggers, fused images, grids, the test pass).
EVAL_SIZE = [
    "++trainer.limit_test_batches=1",               # real data: one image per dataset
    "data.options.synthetic.eval_size=32",          # embedded data: 32x32 images (a multiple of the ViT patch)
    "data.options.synthetic.lengths={train:8,val:1,test:2}",  # 2 test images: one per rank under 2-process DDP
]
TRAIN_SIZE = [
    "trainer.max_epochs=1",
    "data.samples_per_epoch=4",                     # 2 steps of 2 patches
    "data.batch_size=2",
    "data.patch_size=32",
    "++trainer.limit_val_batches=1",
    *EVAL_SIZE,
]
PRETRAIN_SIZE = ["steps=6", "kmeans_batches=2", "prototypes=4", "data.patch_size=32", "data.batch_size=2",
                 "data.options.synthetic.lengths={train:8,val:1,test:1}"]
SIZE = {"train": TRAIN_SIZE, "evaluate": EVAL_SIZE, "ablate": TRAIN_SIZE, "pretrain_semantic": PRETRAIN_SIZE}
MULTIRUN_SIZE = ["hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=2"]  # Optuna: 2 trials, not 20
COMMAND_TIMEOUT_S = 420


def command_env() -> dict[str, str]:
    """The environment of a fresh clone: offline, and no FUSIONLAB_DATA (a command names its data itself)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FUSIONLAB_DATA", "HYDRA_FULL_ERROR", "PYTHONHASHSEED")}
    env.update(HF_HUB_OFFLINE="1", WANDB_MODE="offline", NO_ALBUMENTATIONS_UPDATE="1", WANDB_SILENT="true")
    # One intra-op thread: the runs are tiny, and on a shared 2-core CPU spinning OpenMP threads only burn time.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@dataclass
class Ran:
    argv: list[str]
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def explain(self) -> str:
        """The failure, for an assertion message: the first ``error:`` line, then the tail of the output."""
        first_error = next((line for line in self.stderr.splitlines() if line.startswith("error:")), None)
        return (f"exit {self.returncode} after {self.seconds:.0f} s: {' '.join(self.argv[1:])}\n"
                f"{first_error or ''}\n--- stderr (tail) ---\n{self.stderr[-4000:]}\n--- stdout (tail) ---\n"
                f"{self.stdout[-1500:]}")


def run_module(module: str, args: list[str], cwd: Path, timeout: float = COMMAND_TIMEOUT_S,
               env: dict[str, str] | None = None) -> Ran:
    """``sys.executable -m module args`` in ``cwd``, in its own process group (DDP workers die with it)."""
    argv = [sys.executable, "-m", module, *args]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env or command_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[killed after {timeout:.0f} s]"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return Ran(argv, cwd, proc.returncode, out, err, time.perf_counter() - start)


def write_pair_images(task: str, a: Path, b: Path, index: int = 0, size: int = 40) -> None:
    """One embedded synthetic pair of ``task`` saved as image files (suffix decides the format)."""
    from fusionlab.color import ycbcr_to_rgb
    from fusionlab.data.io import write_image
    from fusionlab.data.synthetic import SyntheticFusionDataset

    sample = SyntheticFusionDataset(task, size=size, length=index + 1, split="test")[index]
    for key, path in (("a", a), ("b", b)):
        img = sample[key]
        if f"cbcr_{key}" in sample:  # a colour source is saved in colour, as a user's file would be
            img = ycbcr_to_rgb(torch.cat((img, sample[f"cbcr_{key}"])))
        write_image(path, img.permute(1, 2, 0).numpy())


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def provide_inputs(workspace: Path, a: str | None, b: str | None, task: str) -> int:
    """Create the files or folders a documented ``a=``/``b=`` (or ``check_a=``/``check_b=``) names, from the
    embedded synthetic suite, unless they exist. Returns the number of pairs they hold."""
    if a is None or b is None:
        raise AssertionError(f"a documented pair needs both sides, got a={a} b={b}")
    pa, pb = workspace / a, workspace / b
    if pa.suffix.lower() in IMAGE_SUFFIXES:
        if not pa.exists():
            write_pair_images(task, pa, pb)
        return 1
    for i in range(2):
        if not (pa / f"pair{i}.png").exists():
            write_pair_images(task, pa / f"pair{i}.png", pb / f"pair{i}.png", index=i)
    return 2


def copy_run(run_dir: Path, dest: Path) -> Path:
    """A copy of a run folder as a user has it (its config and checkpoints; not its results)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in (".hydra", "checkpoints"):
        shutil.copytree(run_dir / part, dest / part, dirs_exist_ok=True)
    return dest


def mini_data(src: Path, dest: Path, side: int = 96) -> Path:
    """A miniature of the real sample data: the same tree (layouts, names, formats, bit depths, colour) with every
    image centre-cropped to at most ``side`` x ``side`` (both images of a pair alike), so that a documented
    real-data command evaluates real content at a size the test budget allows. Built once per destination."""
    import cv2

    done = dest / ".complete"
    if done.is_file():
        return dest
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.suffix.lower() in IMAGE_SUFFIXES else None
        if img is None:
            shutil.copy(path, target)
            continue
        h, w = img.shape[:2]
        top, left = max((h - side) // 2, 0), max((w - side) // 2, 0)
        crop = img[top:top + side, left:left + side]
        if not cv2.imwrite(str(target), crop):
            shutil.copy(path, target)
    done.touch()
    return dest


def load_script(path: Path, name: str):
    """A script under benchmarks/ or experiments/ imported as a module (they are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

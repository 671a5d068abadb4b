"""Every documented command, tested as typed (issue 11).

The commands are extracted from README.md, docs/*.md, experiments/README.md and sweeps/README.md at collection
time: every ``python -m fusionlab.*`` (also ``.venv/bin/python -m ...`` and after ``srun``) in a fenced shell
block or in inline code, plus the inline override sets the README offers for a training run (``optim=bilevel
loss=pixel_rec``, ``trainer=ddp_spawn``, ...), which are run as ``python -m fusionlab.train
+experiment=ivif_zero_shot <overrides>``. Each one is

* **run** through the real CLI in a subprocess (``sys.executable -m fusionlab.X``), from a user's working folder
  holding the files the command names, with only *size* overrides appended (:data:`conftest.SIZE`: fewer steps,
  smaller images, one test image per dataset; never a feature switched off), and its outcome checked (exit code
  0, results with rows for every expected method and task, checkpoints, fused images, exported model). This is
  the default: a command added to the docs is run without touching this file;
* or **checked by composition** (:data:`COMPOSED`) when it needs what CI lacks (a GPU, SLURM, the network): the
  real CLI composes it (``--cfg``) and what can be built without the resource is built;
* or **listed out** (:data:`LISTED`) with the reason.

Placeholders become real things: ``/path/to/datasets`` and ``/data`` the shared sample data (such commands are
real-data tests, skipped cleanly without it; runs that fuse and score get a miniature of it, every image
centre-cropped to 96 px, since scoring full-size images costs seconds each), ``<run>`` and ``...`` in ``ckpt_path=`` the run of the main command
(one tiny training shared by the session), ``/path/dinov3*.safetensors`` a random-init ViT-S/16 file, file and
folder names in ``a=``/``b=``/``check_a=``/``check_b=`` embedded synthetic pairs written under those names.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml
from doc_helpers import (
    MULTIRUN_SIZE,
    REPO,
    SIZE,
    Ran,
    command_env,
    copy_run,
    mini_data,
    provide_inputs,
    run_module,
    write_pair_images,
)

DOC_FILES = ("README.md", "docs/*.md", "experiments/README.md", "sweeps/README.md")
MAIN = "python -m fusionlab.train +experiment=ivif_zero_shot"  # the README's main job; its run is shared
RUN_STAMP = "2026-01-01_00-00-00"  # a run folder's name, for `<run>`
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
# Inline override sets become a training command in this context (config groups are found under conf/).
FRAGMENT_TEMPLATE = {"default": MAIN + " {}", "multirun": "python -m fusionlab.train -m +experiment=ivif_zero_shot {}"}
# ... except where a page documents another entry point: there they complete that entry point's command.
FRAGMENT_TEMPLATE_BY_DOC = {
    "docs/fuse_and_export.md": "python -m fusionlab.fuse ckpt_path=<checkpoint_alone> a=my_ir/ b=my_visible/ out=fused/ {}",
}


# ---------------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class DocCommand:
    """One documented command: ``text`` is its canonical form (interpreter spelled ``python``), the test id."""

    text: str
    where: list[str] = field(default_factory=list)
    fragment: bool = False  # an inline override set, run in a training command

    @property
    def srun(self) -> bool:
        return self.text.startswith("srun ")

    @property
    def module(self) -> str:
        return re.search(r"-m (fusionlab[\w.]*)", self.text).group(1)

    @property
    def args(self) -> list[str]:
        """The arguments after the module, placeholders in angle brackets kept as one token."""
        text = re.sub(r"<([^>]*)>", lambda m: "<" + m.group(1).replace(" ", "_") + ">", self.text)
        return shlex.split(text.split(f"-m {self.module}", 1)[1])


COMMAND_RE = re.compile(r"^(?:srun\s+)?(?:[\w./-]*/)?python3?\s+-m\s+fusionlab\b")
OVERRIDE_RE = re.compile(r"^(?:-m|[+~]{0,2}[\w/.<>|-]+=\S*)$")


def _groups() -> set[str]:
    conf = REPO / "conf"
    groups = {str(p.relative_to(conf)) for p in conf.rglob("*") if p.is_dir()}
    return groups | {"hydra/launcher", "hydra/sweeper"}


def _canonical(command: str) -> str:
    command = " ".join(command.split())
    return COMMAND_RE.sub(lambda m: ("srun " if m.group(0).startswith("srun") else "") + "python -m fusionlab",
                          command)


def _lineno(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def extract_commands(root: Path = REPO) -> dict[str, DocCommand]:
    """Every documented ``python -m fusionlab.*`` command and training override set, keyed by canonical text."""
    found: dict[str, DocCommand] = {}
    groups = _groups()

    def add(command: str, where: str, fragment: bool = False) -> None:
        entry = found.setdefault(command, DocCommand(command, fragment=fragment))
        entry.where.append(where)

    files = [p for pattern in DOC_FILES for p in sorted(root.glob(pattern))]
    for path in files:
        rel, text = str(path.relative_to(root)), path.read_text()
        fences = list(re.finditer(r"^```([\w+-]*)[^\n]*\n(.*?)^```", text, flags=re.M | re.S))
        for fence in fences:
            if fence.group(1).lower() not in SHELL_LANGS:
                continue
            body, start = fence.group(2), _lineno(text, fence.start(2))
            lines = body.split("\n")
            i = 0
            while i < len(lines):
                first, line = i, lines[i]
                while line.rstrip().endswith("\\") and i + 1 < len(lines):  # continuation lines
                    i += 1
                    line = line.rstrip()[:-1] + " " + lines[i]
                i += 1
                line = re.sub(r"(^|\s)#.*$", "", line.strip().removeprefix("$ ")).strip()  # shell comment
                if COMMAND_RE.match(line):
                    add(_canonical(line), f"{rel}:{start + first}")
        # inline code, outside fences (a span may continue on the next line)
        masked = text
        for fence in fences:
            masked = masked[:fence.start()] + re.sub(r"[^\n]", " ", fence.group(0)) + masked[fence.end():]
        for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", masked):
            code, where = " ".join(span.group(1).split()), f"{rel}:{_lineno(text, span.start())}"
            if COMMAND_RE.match(code):
                add(_canonical(code), where)
                continue
            tokens = code.split()
            if tokens and all(OVERRIDE_RE.match(t) for t in tokens) and any(
                    t.split("=", 1)[0].lstrip("+~") in groups for t in tokens if "=" in t):
                multirun = "-m" in tokens or any(t.startswith("hydra/launcher=") for t in tokens)
                body = " ".join(t for t in tokens if t != "-m")
                template = FRAGMENT_TEMPLATE_BY_DOC.get(rel, FRAGMENT_TEMPLATE["multirun" if multirun else "default"])
                add(template.format(body), where, fragment=True)
    return found


COMMANDS = extract_commands()


# ---------------------------------------------------------------------------------------------------------------
# What is not run, and why
# ---------------------------------------------------------------------------------------------------------------
LISTED: dict[str, str] = {
    "python -m fusionlab.fuse": "names the entry point in prose; its documented commands are run below",
    "python -m fusionlab.export": "names the entry point in prose; its documented commands are run below",
    "python -m fusionlab.train +experiment=ivif_zero_shot loss=NAME":
        "placeholder for the presets listed under it; tests/losses/test_loss_presets.py composes, builds and runs "
        "every preset",
}

# Needs what CI lacks: checked by composing through the real CLI and building what can be built (name -> reason).
COMPOSED: dict[str, str] = {
    "python -m fusionlab.train +experiment=ivif_zero_shot trainer=gpu":
        "needs a GPU: composed; only the trainer differs from the CPU run; the trainer is built with accelerator=cpu",
    "python -m fusionlab.train +experiment=ivif_zero_shot trainer=ddp trainer.accelerator=gpu trainer.devices=8":
        "needs 8 GPUs: composed; only the trainer differs; the DDP trainer is built with accelerator=cpu",
    "srun python -m fusionlab.train +experiment=ivif_zero_shot trainer=slurm":
        "needs SLURM and GPUs: composed under a 2-node x 8-task SLURM environment; the trainer is built with "
        "accelerator=cpu",
    "python -m fusionlab.train -m +experiment=ivif_zero_shot seed=1,2,3 hydra/launcher=submitit_slurm "
    "hydra.launcher.partition=gpu":
        "needs a SLURM cluster: composed (first value of each sweep); the submitit SLURM launcher is built",
    "python -m fusionlab.train -m +experiment=ivif_zero_shot hydra/launcher=submitit_slurm "
    "hydra.launcher.partition=<p> hydra.launcher.gpus_per_node=1 hydra.launcher.timeout_min=240":
        "needs a SLURM cluster: composed with <p>=gpu; the submitit SLURM launcher is built",
    "python -m fusionlab.data download msrs --root /path/to/datasets":
        "needs the network: run with the same archive layout from a local file:// URL (--url), then verified",
    "python -m fusionlab.train +experiment=ivif_zero_shot optim=adamw":
        "the default optimiser: composes to exactly the main command's config, which runs",
    "python -m fusionlab.train +experiment=ivif_zero_shot +hparams_search=optuna_ivif":
        "the sweeps/README.md Optuna command runs this sweep; composed: the search config alone makes it a "
        "multirun (hydra.mode=MULTIRUN) with the Optuna sweeper",
    "python -m fusionlab.train +experiment=ivif_zero_shot model/backbone=cnn|ssm|transformer|dinov3":
        "four alternatives: each composed, built and run on a 32x32 pair (training with cnn and dinov3 runs in the "
        "presets)",
}

REAL_DATA_PLACEHOLDERS = ("/path/to/datasets", "/data")


def _needs_data(cmd: DocCommand) -> bool:
    return any(v in REAL_DATA_PLACEHOLDERS for a in cmd.args for v in (a, a.split("=", 1)[-1]))


def _param(cmd: DocCommand):
    marks = [] if "--cfg" in cmd.args else [pytest.mark.slow]  # a run; printing the config is instant
    if _needs_data(cmd):
        marks.append(pytest.mark.real_data)
    return pytest.param(cmd, id=cmd.text, marks=marks)


RUN = [c for c in COMMANDS.values() if c.text not in LISTED and c.text not in COMPOSED]


def test_every_documented_command_is_run_composed_or_listed():
    """The docs still hold every command this file names, and each extracted command has exactly one treatment."""
    assert MAIN in COMMANDS, f"the README's main command {MAIN!r} is no longer documented"
    stale = sorted((set(LISTED) | set(COMPOSED)) - set(COMMANDS))
    assert not stale, f"named here but no longer in the docs (update LISTED/COMPOSED): {stale}"
    assert not set(LISTED) & set(COMPOSED)
    assert {c.text for c in RUN} | set(LISTED) | set(COMPOSED) == set(COMMANDS)
    assert all(c.where for c in COMMANDS.values())
    # what the extraction must find (the shapes of command the docs use)
    assert any(c.srun for c in COMMANDS.values()) and any(c.module == "fusionlab.ablate" for c in COMMANDS.values())
    assert any(".venv/bin/python" in (REPO / c.where[0].split(":")[0]).read_text() for c in COMMANDS.values())


# ---------------------------------------------------------------------------------------------------------------
# Running a command
# ---------------------------------------------------------------------------------------------------------------
def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def check_table(folder: Path, methods: set[str], tasks: set[str] | None = None) -> list[dict[str, str]]:
    """``results.csv`` and ``results.md`` exist, with rows for every expected method on every expected task."""
    assert (folder / "results.csv").is_file(), f"no results.csv in {folder}: {sorted(p.name for p in folder.iterdir())}"
    assert (folder / "results.md").is_file(), f"no results.md in {folder}"
    rows = read_rows(folder / "results.csv")
    found = {r["method"] for r in rows}
    assert methods <= found, f"results.csv has methods {sorted(found)}, expected at least {sorted(methods)}"
    if tasks is not None:
        from fusionlab.baselines import BASELINES

        for method in methods:
            got = {r["task"] for r in rows if r["method"] == method}
            declared = getattr(BASELINES.get(method), "tasks", None)  # e.g. mertens: MEF and MFF only
            expected = tasks & set(declared) if declared else tasks
            assert got == expected, f"{method}: rows for tasks {sorted(got)}, expected {sorted(expected)}"
    return rows


def suite_tasks(suite) -> set[str]:
    from fusionlab.data.sources import get_source

    return {get_source(str(key)).task for key in suite}


def cli_config(module: str, args: list[str], cwd: Path, what: str = "job", env: dict | None = None) -> dict:
    """The config the real CLI composes for ``args`` (``--cfg job|hydra|all``), as a dict."""
    resolve = ["--resolve"] if what == "job" else []
    ran = run_module(module, [*args, "--cfg", what, *resolve], cwd, timeout=120, env=env)
    assert ran.returncode == 0, ran.explain()
    return yaml.safe_load(ran.stdout)


def expected_train(args: list[str], output_dir: Path, conf: Path | None = None) -> tuple[set[str], set[str]]:
    """(methods, tasks) a training run's table must hold: the trained method and the classical reference rows; the
    tasks of the evaluation suite (composed in-process from the same overrides, on ``conf`` when given)."""
    import os

    from omegaconf import OmegaConf

    from fusionlab.config import compose

    keep = [a for a in args if not a.startswith(("hydra.", "hydra/", "-"))]
    previous = os.environ.get("FUSIONLAB_CONF")
    if conf is not None:
        os.environ["FUSIONLAB_CONF"] = str(conf)
    try:
        cfg = compose(keep, output_dir=output_dir)
    finally:
        if conf is not None and previous is None:
            del os.environ["FUSIONLAB_CONF"]
        elif conf is not None:
            os.environ["FUSIONLAB_CONF"] = previous
    # the reference rows: `methods` of the run (or the older `eval.baselines`)
    reference = OmegaConf.select(cfg, "methods", default=None)
    if reference is None:
        reference = OmegaConf.select(cfg, "eval.baselines", default=None)
    return {str(cfg.method_name), *map(str, reference or [])}, suite_tasks(cfg.eval.suite)


@dataclass
class Prepared:
    """A documented command made runnable: its module, argv and the folders to look at afterwards."""

    module: str
    args: list[str]
    cwd: Path
    env: dict[str, str] | None = None
    run_dir: Path | None = None
    sweep_dir: Path | None = None
    pairs: int = 0
    conf_dir: Path | None = None  # a config tree with the files a doc tells the user to add


def substitute(cmd: DocCommand, ws: Path, request) -> list[str]:
    """The command's arguments with every placeholder replaced by a real thing in the workspace."""
    args: list[str] = []
    for arg in cmd.args:
        key, eq, value = arg.partition("=")
        if arg == "..." and cmd.module == "fusionlab.train":  # "the same command as before"
            args += COMMANDS[MAIN].args
            continue
        if value in REAL_DATA_PLACEHOLDERS or arg in REAL_DATA_PLACEHOLDERS:
            data = request.getfixturevalue("data_dir")  # skips cleanly without the shared data
            if cmd.module != "fusionlab.data":  # runs that fuse and score: the same data, centre-cropped
                data = mini_data(data, request.getfixturevalue("mini_data_root"))
            args.append(f"{key}={data}" if eq else str(data))
            continue
        if eq and re.fullmatch(r"/path/.*dinov3.*\.safetensors", value):
            args.append(f"{key}={request.getfixturevalue('dinov3_weights')}")
            continue
        if key == "ckpt_path" and value == "<checkpoint_alone>":  # a checkpoint without its run's config beside it
            target = ws / "checkpoint_alone" / "model.ckpt"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(request.getfixturevalue("trained_run") / "checkpoints" / "last.ckpt", target)
            args.append(f"ckpt_path={target.relative_to(ws)}")
            continue
        if key == "hydra.run.dir" and value.startswith("<"):  # resume: the folder of a run that stopped early
            target = copy_run(request.getfixturevalue("trained_run"), ws / "stopped_run")
            args.append(f"hydra.run.dir={target}")
            continue
        if key == "ckpt_path" and value not in ("last",):
            value = "run/checkpoints/last.ckpt" if value == "..." else value.replace("<run>", RUN_STAMP)
            if "<" not in value:
                trained = request.getfixturevalue("trained_run")
                target = ws / value
                if not target.exists():
                    copy_run(trained, target.parents[1])
                args.append(f"ckpt_path={value}")
                continue
        value = value.replace("<p>", "gpu")
        assert "<" not in arg, (
            f"unknown placeholder in {arg!r} of {cmd.text!r}: teach substitute() what it stands for")
        args.append(f"{key}={value}" if eq else arg)
    return args


def prepare(cmd: DocCommand, ws: Path, request) -> Prepared:
    args = substitute(cmd, ws, request)
    module = cmd.module
    prep = Prepared(module, args, ws)
    if module == "fusionlab.train":
        if "-m" in args or "--multirun" in args:
            prep.sweep_dir = ws / "multirun"
            extra = [f"hydra.sweep.dir={prep.sweep_dir}"]
            if any(a.startswith("+hparams_search=") for a in args):
                extra += MULTIRUN_SIZE
            prep.args += extra + SIZE["train"]
        elif "--cfg" in args or "--help" in args or "-h" in args:
            pass
        else:
            run_dir = next((a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")), None)
            if run_dir is None:
                prep.run_dir = ws / "run"
                prep.args.append(f"hydra.run.dir={prep.run_dir}")
            else:
                prep.run_dir = Path(run_dir)
            prep.args += SIZE["train"]
            if "ckpt_path=last" in args:  # resuming the shared run's folder (1 epoch done): one more epoch to go
                prep.args.append("trainer.max_epochs=2")
    elif module == "fusionlab.evaluate":
        prep.run_dir = ws / "run"
        prep.args += [f"hydra.run.dir={prep.run_dir}", *SIZE["evaluate"]]
    elif module == "fusionlab.ablate":
        prep.args += SIZE["ablate"]
        if "--out" in prep.args:  # the workspace links experiments/ to the repository: write beside it instead
            i = prep.args.index("--out") + 1
            prep.args[i] = str(ws / "study_out" / prep.args[i])
    elif module == "fusionlab.pretrain_semantic":
        prep.run_dir = ws / "run"
        prep.args += [f"hydra.run.dir={prep.run_dir}", *SIZE["pretrain_semantic"]]
    elif module in ("fusionlab.fuse", "fusionlab.export"):
        opts = dict(a.split("=", 1) for a in args if "=" in a)
        task = opts.get("task", "ivif")
        for a_key, b_key in (("a", "b"), ("check_a", "check_b")):
            if a_key in opts:
                prep.pairs = provide_inputs(ws, opts[a_key], opts.get(b_key), task)
        prep.run_dir = ws / "run_log"
        prep.args.append(f"hydra.run.dir={prep.run_dir}")
    return prep


def check_outcome(cmd: DocCommand, prep: Prepared, ran: Ran) -> None:
    """The real outcome of a documented command, by entry point."""
    assert ran.returncode == 0, ran.explain()
    opts = dict(a.split("=", 1) for a in prep.args if "=" in a and not a.startswith("-"))
    if prep.module == "fusionlab.train" and prep.sweep_dir is not None:
        jobs = sorted(p.parent for p in prep.sweep_dir.glob("*/results.csv"))
        sweeps = [a for a in cmd.args if "," in a.split("=", 1)[-1] and not a.split("=", 1)[-1].startswith("[")]
        n_jobs = 1
        for a in sweeps:
            n_jobs *= len(a.split("=", 1)[1].split(","))
        if any(a.startswith("+hparams_search=") for a in cmd.args):
            n_jobs = 2  # hydra.sweeper.n_trials=2
            assert list(prep.sweep_dir.glob("optimization_results.yaml")), "Optuna wrote no optimization_results.yaml"
        assert len(jobs) == n_jobs, f"{len(jobs)} job(s) with results.csv, expected {n_jobs}\n{ran.explain()}"
        for job in jobs:
            assert (job / "checkpoints" / "last.ckpt").is_file()
            rows = check_table(job, set())
            assert rows and len({r["method"] for r in rows}) >= 2  # the trained model and the reference rows
    elif prep.module == "fusionlab.train" and prep.run_dir is not None:
        methods, tasks = expected_train(prep.args, prep.run_dir, prep.conf_dir)
        check_table(prep.run_dir, methods, tasks)
        assert (prep.run_dir / "checkpoints" / "last.ckpt").is_file()
        assert any((prep.run_dir / "fused").rglob("*.png")), "no fused images"
        assert any((prep.run_dir / "grids").glob("*.png")), "no image grids"
        logger = opts.get("logger", "default")
        if logger in ("default", "wandb"):
            assert list((prep.run_dir / "wandb").glob("offline-run-*")), "no offline W&B run"
        if logger in ("default", "csv"):
            assert (prep.run_dir / "csv" / "metrics.csv").is_file(), "no csv/metrics.csv"
    elif prep.module == "fusionlab.train":  # --cfg / --help
        assert ran.stdout.strip(), "printed nothing"
        if "--cfg" in prep.args:
            assert "task_name" in yaml.safe_load(ran.stdout)
    elif prep.module == "fusionlab.evaluate":
        methods = set(opts.get("methods", "[]").strip("[]").split(",")) - {""}
        rows = check_table(prep.run_dir, methods)
        found = {r["method"] for r in rows}
        assert len(found) == len(methods) + (1 if "ckpt_path" in opts or "pretrained" in opts else 0), sorted(found)
        if "pretrained" in opts:  # the shipped weights' rows carry their name
            assert opts["pretrained"] in found, sorted(found)
        for method in methods:
            assert any((prep.run_dir / "methods" / method / "fused").rglob("*.png")), f"no fused images of {method}"
    elif prep.module == "fusionlab.ablate":
        from fusionlab.engine.ablation import load_study

        study = load_study(prep.cwd / next(a for a in prep.args if a.endswith(".yaml")))
        only = next((prep.args[i + 1] for i, a in enumerate(prep.args) if a == "--only"), None)
        variants = set(only.split(",")) if only else set(study["variants"])
        out = next((prep.args[i + 1] for i, a in enumerate(prep.args) if a == "--out"), None)
        if out is not None:  # --out names the study folder itself
            tables = [t for t in [prep.cwd / out / "results.md"] if t.is_file()]
        else:
            tables = sorted((prep.cwd / "outputs" / "ablations" / study["name"]).glob("*/results.md"))
        assert len(tables) == 1, f"study tables: {tables}\n{ran.explain()}"
        check_table(tables[0].parent, variants)
        for variant in variants:  # one run per variant, or per variant and seed (seedN/)
            assert list((tables[0].parent / variant).rglob("checkpoints/last.ckpt")), variant
    elif prep.module == "fusionlab.pretrain_semantic":
        from fusionlab.losses import SemanticEntropyLoss
        from fusionlab.losses.semantic_prior import load_prior

        prior = load_prior(prep.run_dir / "semantic_prior.pt")
        assert prior is not None and prior["prototypes"].shape == (4, 64), ran.explain()
        term = SemanticEntropyLoss(weights=str(prep.run_dir / "semantic_prior.pt"))  # what the docs say to do next
        # the loss re-normalises the (already unit) prototypes: equal up to float rounding
        torch.testing.assert_close(term.prototypes, prior["prototypes"], rtol=0, atol=1e-6)
    elif prep.module == "fusionlab.fuse":
        out = prep.cwd / opts["out"]
        fused = sorted(out.glob("*.png"))
        assert len(fused) == prep.pairs, f"{len(fused)} fused image(s) in {out}, expected {prep.pairs}"
        assert "fused" in ran.stdout + ran.stderr
    elif prep.module == "fusionlab.export":
        from fusionlab.inference.exporter import FORMATS, default_export_path

        fmt = opts.get("format", "onnx")
        if "out" in opts:
            path = prep.cwd / opts["out"]
        elif "pretrained" in opts:  # shipped weights: written to the run folder, never into the package
            path = prep.run_dir / default_export_path(Path(opts["pretrained"] + ".pt"), fmt).name
        else:
            path = default_export_path(prep.cwd / opts["ckpt_path"], fmt)
        assert path.is_file(), f"no exported model at {path}"
        assert path.name.endswith(FORMATS[fmt]) or "out" in opts
        info = json.loads(path.with_name(path.name + ".json").read_text())
        assert path.with_name(path.name + ".md").is_file()
        assert info["format"] == fmt and len(info["check"]) == 2
        assert all(c["max_abs_diff"] <= c["atol"] for c in info["check"])
        if "check_a" not in opts and "paths.data_dir" not in opts:  # a fresh clone: no real pair anywhere
            assert info["check_pair"] == "synthetic" and "embedded synthetic pair" in ran.stdout, ran.explain()
    elif prep.module == "fusionlab.data":
        assert ran.stdout.strip()
    elif prep.module == "fusionlab.pretrained":  # list: every shipped name with the command that trained it
        from fusionlab.pretrained import available

        assert available() and all(name in ran.stdout for name in available()), ran.explain()
        assert "recipe: python -m fusionlab.train" in ran.stdout


# ---------------------------------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------------------------------
def _session_workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("main") / "ws"
    ws.mkdir()
    for name in ("experiments", "sweeps"):
        (ws / name).symlink_to(REPO / name)
    return ws


@pytest.fixture(scope="session")
def main_run(tmp_path_factory, request) -> tuple[Prepared, Ran]:
    """The README's main command, run once (tiny) for the session: its run folder is the `<run>` of the docs."""
    prep = prepare(COMMANDS[MAIN], _session_workspace(tmp_path_factory), request)
    return prep, run_module(prep.module, prep.args, prep.cwd)


@pytest.fixture(scope="session")
def trained_run(main_run) -> Path:
    prep, ran = main_run
    if ran.returncode != 0 or not (prep.run_dir / "checkpoints" / "last.ckpt").is_file():
        pytest.fail(f"the shared training run (the README's main command) failed, so there is no checkpoint for "
                    f"the commands that need one:\n{ran.explain()}", pytrace=False)
    return prep.run_dir


def doc_overlay(cmd: DocCommand, ws: Path) -> dict[str, str] | None:
    """For a command that uses a config option the docs tell the user to add (docs/extending.md: "Save the class in
    `X.py` and add `Y.yaml`"), a copy of the source and config trees with both files written from the doc's code
    blocks; returns the environment that runs the command on it (None when every option exists)."""
    conf = REPO / "conf"
    missing = [a.split("=", 1) for a in cmd.args if re.fullmatch(r"[\w/]+=\w+", a)
               and (conf / a.split("=", 1)[0]).is_dir() and not (conf / (a.replace("=", "/") + ".yaml")).is_file()]
    if not missing:
        return None
    doc = REPO / cmd.where[0].split(":")[0]
    text = doc.read_text()
    root = ws / "clone"
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(conf, root / "conf")
    for group, name in missing:
        m = re.search(rf"Save the class in `([^`]+\.py)` and add `(conf/{re.escape(group)}/{re.escape(name)}\.yaml)`",
                      text)
        assert m, f"{doc.name} uses {group}={name} but does not say which files to add"
        code = re.findall(r"```python\n(.*?)```", text[:m.start()], flags=re.S)[-1]
        spec = re.search(r"```yaml\n(.*?)```", text[m.end():], flags=re.S).group(1)
        (root / m.group(1)).write_text(code)
        (root / m.group(2)).write_text(spec)
    env = command_env()
    env["PYTHONPATH"] = str(root / "src") + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@pytest.mark.parametrize("cmd", [_param(c) for c in RUN])
def test_documented_command_runs(cmd: DocCommand, workspace: Path, request):
    """The command as typed, through the real CLI, with size overrides only; then its real outcome."""
    if cmd.text == MAIN:
        prep, ran = request.getfixturevalue("main_run")
    else:
        prep = prepare(cmd, workspace, request)
        prep.env = doc_overlay(cmd, workspace)
        if prep.env is not None:
            prep.conf_dir = workspace / "clone" / "conf"
        ran = run_module(prep.module, prep.args, prep.cwd, env=prep.env)
    check_outcome(cmd, prep, ran)
    if "ckpt_path=last" in cmd.args:
        # resumed, not restarted: the finished epoch 0 is not trained or validated again, epoch 1 is
        rows = [r for r in read_rows(prep.run_dir / "csv" / "metrics.csv") if r.get("val/loss")]
        assert rows and {r["epoch"] for r in rows} == {"1"}, f"validation epochs {[r['epoch'] for r in rows]}"


# ---------------------------------------------------------------------------------------------------------------
# Composition checks (what CI lacks)
# ---------------------------------------------------------------------------------------------------------------
def _without_trainer(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "trainer"}


def _build_trainer(trainer_cfg: dict):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.create(trainer_cfg), accelerator="cpu", logger=False, enable_checkpointing=False)


def check_scaled_trainer(cmd: DocCommand, ws: Path, monkeypatch) -> None:
    """Only the trainer changes (README "Scaling up"); the trainer builds on CPU with the documented layout."""
    from lightning.pytorch.strategies import DDPStrategy

    env = command_env()
    if cmd.srun:  # the sbatch line of the README: --nodes=2 --ntasks-per-node=8 --gpus-per-node=8
        env.update(SLURM_NTASKS_PER_NODE="8", SLURM_JOB_NUM_NODES="2")
    base = cli_config("fusionlab.train", COMMANDS[MAIN].args, ws)
    cfg = cli_config(cmd.module, cmd.args, ws, env=env)
    assert _without_trainer(cfg) == _without_trainer(base)
    assert cfg["trainer"]["accelerator"] == "gpu" and cfg["trainer"] != base["trainer"]
    opts = dict(a.split("=", 1) for a in cmd.args if "=" in a)
    trainer = _build_trainer(cfg["trainer"])
    if cmd.srun:
        assert (cfg["trainer"]["devices"], cfg["trainer"]["num_nodes"]) == (8, 2)
        assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_nodes == 2 and trainer.num_devices == 8
    elif opts.get("trainer") == "ddp":
        assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == int(opts["trainer.devices"])
    assert "bf16" in str(cfg["trainer"]["precision"])


def check_launcher(cmd: DocCommand, ws: Path, monkeypatch) -> None:
    """The multirun's launcher composes and the submitit SLURM launcher builds with the documented settings."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    args = [a.replace("<p>", "gpu") for a in cmd.args if a != "-m"]
    args = [a if "," not in a or "[" in a else a.split(",")[0] for a in args]  # first value of each sweep
    hydra_cfg = cli_config(cmd.module, args, ws, what="hydra")["hydra"]
    launcher_cfg = OmegaConf.create(hydra_cfg["launcher"])
    assert launcher_cfg._target_.endswith("SlurmLauncher")
    launcher = instantiate(launcher_cfg, submitit_folder=str(ws / "submitit"), name="train")
    for a in args:
        if a.startswith("hydra.launcher."):
            key, value = a.removeprefix("hydra.launcher.").split("=", 1)
            assert launcher.params[key] == yaml.safe_load(value), key


def check_download(cmd: DocCommand, ws: Path, monkeypatch) -> None:
    """The download command with the archive from a local file (the official layout, embedded images)."""
    from fusionlab.data.download import RESOURCES

    name = cmd.args[1]
    assert cmd.args[0] == "download" and name in RESOURCES
    top = ws / "archive" / f"{name.upper()}-commit"
    for split in ("train", "test"):
        for i in range(2):
            write_pair_images("ivif", top / split / "ir" / f"{i:05d}N.png", top / split / "vi" / f"{i:05d}N.png",
                              index=i, size=64)
    archive = ws / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(top.rglob("*")):
            zf.write(path, str(path.relative_to(top.parent)))
    args = [a.replace("/path/to/datasets", str(ws / "datasets")) for a in cmd.args]
    ran = run_module(cmd.module, [*args, "--url", archive.as_uri()], ws, timeout=120)
    assert ran.returncode == 0, ran.explain()
    assert sorted(p.name for p in (ws / "datasets" / name / "test" / "ir").iterdir()) == ["00000N.png", "00001N.png"]
    assert name in ran.stdout


def check_same_as_main(cmd: DocCommand, ws: Path, monkeypatch) -> None:
    assert cli_config(cmd.module, cmd.args, ws) == cli_config("fusionlab.train", COMMANDS[MAIN].args, ws)


def check_search_config(cmd: DocCommand, ws: Path, monkeypatch) -> None:
    cfg = cli_config(cmd.module, cmd.args, ws, what="all")
    assert cfg["hydra"]["mode"] == "MULTIRUN"
    assert "optuna" in cfg["hydra"]["sweeper"]["_target_"].lower() and cfg["hydra"]["sweeper"]["params"]
    assert cfg["optimized_metric"], "the search returns no optimized_metric to the sweeper"
    # the metric the docs name as the trial value is the one the search config returns
    assert f"`{cfg['optimized_metric']}`" in (REPO / "sweeps" / "README.md").read_text()


def check_alternatives(cmd: DocCommand, ws: Path, monkeypatch) -> None:
    """Each alternative of ``key=a|b|c`` composes, and the model it names builds and fuses a 32x32 pair."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    (choice,) = [a for a in cmd.args if "|" in a]
    key, values = choice.split("=", 1)
    for value in values.split("|"):
        args = [f"{key}={value}" if a == choice else a for a in cmd.args]
        cfg = cli_config(cmd.module, args, ws)
        model = instantiate(OmegaConf.create(cfg["model"])).eval()
        a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
        with torch.no_grad():
            assert model(a, b).shape == a.shape, value


CHECKS = {
    "trainer=gpu": check_scaled_trainer,
    "trainer.devices=8": check_scaled_trainer,
    "trainer=slurm": check_scaled_trainer,
    "submitit_slurm": check_launcher,
    "fusionlab.data download": check_download,
    "optim=adamw": check_same_as_main,
    "+hparams_search=": check_search_config,
    "|": check_alternatives,
}


@pytest.mark.parametrize("cmd", [pytest.param(COMMANDS[t], id=t) for t in COMPOSED if t in COMMANDS])
def test_documented_command_composes(cmd: DocCommand, workspace: Path, monkeypatch):
    """Commands that need a GPU, SLURM or the network: composed by the real CLI; what can be built is built."""
    checks = [fn for needle, fn in CHECKS.items() if needle in cmd.text]
    assert checks, f"no composition check matches {cmd.text!r}: add one to CHECKS"
    checks[0](cmd, workspace, monkeypatch)

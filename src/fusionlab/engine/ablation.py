"""Ablation studies: several variants of one run, trained and evaluated alike, reported in one table.

A study is a YAML file (see ``experiments/``)::

    name: loss_terms
    base: [+experiment=ivif_zero_shot, trainer.max_epochs=4]   # overrides shared by every variant
    variants:                                                   # name -> extra overrides
      full: []
      no_ssim: [loss.terms.ssim.weight=0]

Each variant runs in ``<out>/<variant>/`` (its own results, checkpoints and logs); the study writes
``<out>/results.csv`` and ``<out>/results.md`` with one method row per variant, so differences are read
from one table (best value per dataset in bold).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from fusionlab.engine.results import write_results
from fusionlab.errors import UnknownNameError

log = logging.getLogger(__name__)


def load_study(path: str | Path) -> dict[str, Any]:
    """Read and validate a study file; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ablation study not found: {path}")
    study = yaml.safe_load(path.read_text()) or {}
    if not isinstance(study.get("variants"), dict) or not study["variants"]:
        raise ValueError(f"{path}: 'variants' must map variant names to lists of overrides")
    for name, overrides in study["variants"].items():
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise ValueError(f"{path}: variants.{name} must be a list of override strings")
        if "/" in str(name) or not str(name).strip():
            raise ValueError(f"{path}: variant name {name!r} must be a non-empty name without '/'")
    if not isinstance(study.get("base", []), list):
        raise ValueError(f"{path}: 'base' must be a list of override strings")
    study.setdefault("name", path.stem)
    return study


def run_study(study: dict[str, Any], out_dir: str | Path, extra: Sequence[str] = (),
              only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run every variant (or those in ``only``) and write the study's comparison table."""
    from fusionlab.config import compose
    from fusionlab.engine.run import run_training

    out = Path(out_dir)
    names = [n for n in study["variants"] if only is None or n in only]
    if only is not None and (unknown := set(only) - set(study["variants"])):
        raise UnknownNameError(f"unknown variant(s) {sorted(unknown)}; study {study['name']} has {list(study['variants'])}")
    rows: list[dict[str, Any]] = []
    convention = "cddfuse"
    for i, name in enumerate(names):
        overrides = [*study.get("base", []), *study["variants"][name], *extra, f"method_name={name}",
                     f"task_name={study['name']}"]
        if i > 0:  # classical reference rows once per study, not once per variant
            overrides.append("methods=[]")
        log.info("ablation %s / %s: %s", study["name"], name, " ".join(overrides))
        cfg = compose(overrides, output_dir=out / name)
        convention = cfg.eval.convention
        # The variant's own config beside its checkpoints, as a CLI run would leave it (checkpoints carry it too).
        (out / name / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, out / name / ".hydra" / "config.yaml")
        (out / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
        result = run_training(cfg)
        rows.extend(result.get("rows") or [])
    write_results(rows, out, convention, title=f"ablation: {study['name']}",
                  notes=[f"Variants: {', '.join(names)}. Base overrides: {' '.join(study.get('base', []))}."])
    return rows


def collect_multirun(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Aggregate a finished Hydra multirun (``-m`` sweep, any launcher) into one comparison table.

    Every job folder with a ``results.csv`` becomes one method, named by the overrides that differ
    between jobs (e.g. ``loss.terms.ssim.weight=0``); its own classical reference rows are kept once.
    """
    import csv

    sweep = Path(sweep_dir)
    jobs = sorted((p.parent for p in sweep.glob("*/results.csv")), key=lambda p: p.name)
    if not jobs:
        raise FileNotFoundError(f"no job folder with results.csv under {sweep}: is this a finished multirun folder?")
    overrides = {}
    for job in jobs:
        path = job / ".hydra" / "overrides.yaml"
        overrides[job] = yaml.safe_load(path.read_text()) if path.is_file() else []
    common = set.intersection(*(set(o) for o in overrides.values())) if overrides else set()
    rows: list[dict[str, Any]] = []
    seen_reference: set[str] = set()
    convention = "cddfuse"
    for job in jobs:
        config = job / ".hydra" / "config.yaml"
        if config.is_file():
            convention = (yaml.safe_load(config.read_text()) or {}).get("eval", {}).get("convention", convention)
        name = " ".join(o for o in overrides[job] if o not in common) or f"job{job.name}"
        with open(job / "results.csv") as fh:
            job_rows = list(csv.DictReader(fh))
        trained = {r["method"] for r in job_rows} - _reference_methods(job_rows)
        for r in job_rows:
            is_reference = r["method"] not in trained
            if is_reference and r["method"] in seen_reference:
                continue
            row = {k: (v if k in ("method", "dataset", "task", "image") else float(v)) for k, v in r.items()}
            if not is_reference:
                row["method"] = name
            rows.append(row)
        seen_reference |= _reference_methods(job_rows)
    write_results(rows, sweep, convention, title=f"multirun: {sweep.name}",
                  notes=[f"{len(jobs)} jobs; shared overrides: {' '.join(sorted(common)) or '(none)'}."])
    return rows


def _reference_methods(rows: list[dict[str, Any]]) -> set[str]:
    from fusionlab.baselines import BASELINES

    return {r["method"] for r in rows if r["method"] in BASELINES}

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

from fusionlab.engine.results import write_results

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
        raise KeyError(f"unknown variant(s) {sorted(unknown)}; study {study['name']} has {list(study['variants'])}")
    rows: list[dict[str, Any]] = []
    convention = "cddfuse"
    for i, name in enumerate(names):
        overrides = [*study.get("base", []), *study["variants"][name], *extra, f"method_name={name}",
                     f"task_name={study['name']}"]
        if i > 0:  # classical reference rows once per study, not once per variant
            overrides.append("eval.baselines=[]")
        log.info("ablation %s / %s: %s", study["name"], name, " ".join(overrides))
        cfg = compose(overrides, output_dir=out / name)
        convention = cfg.eval.convention
        result = run_training(cfg)
        rows.extend(result.get("rows") or [])
    write_results(rows, out, convention, title=f"ablation: {study['name']}",
                  notes=[f"Variants: {', '.join(names)}. Base overrides: {' '.join(study.get('base', []))}."])
    return rows

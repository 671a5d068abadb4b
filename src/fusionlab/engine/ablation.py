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

With ``seeds: [1, 2, 3]`` in the study (or ``--seeds`` on the command line) every variant is trained once per
seed in ``<out>/<variant>/seed<S>/``; ``results.md`` then holds the per-image means over all seeds, and
``<out>/seeds.md`` the mean ± std over seeds of each variant's per-dataset means and of its win counts
against the classical reference rows (:func:`win_counts`), with ``<out>/seeds.png`` (matplotlib, when
installed) drawing per dataset each variant's headline metrics relative to the average rule beside the
classical rows.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from fusionlab.engine.results import write_results
from fusionlab.errors import ConfigError, UnknownNameError

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
    seeds = study.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not seeds
                              or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)):
        raise ValueError(f"{path}: 'seeds' must be a non-empty list of integers")
    study.setdefault("name", path.stem)
    return study


def run_study(study: dict[str, Any], out_dir: str | Path, extra: Sequence[str] = (),
              only: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
              resume: bool = False) -> list[dict[str, Any]]:
    """Run every variant (or those in ``only``), once per seed when the study (or ``seeds``) names several,
    and write the study's comparison table (plus ``seeds.md``/``seeds.png`` across seeds).

    ``resume``: a run folder that already holds ``results.csv`` (a finished run of an interrupted study) is read
    back instead of trained again; unfinished ones are run. Without it, a finished run folder is an error
    (results are never overwritten)."""
    from fusionlab.config import compose
    from fusionlab.engine.report import read_rows
    from fusionlab.engine.run import run_training

    out = Path(out_dir)
    names = [n for n in study["variants"] if only is None or n in only]
    if only is not None and (unknown := set(only) - set(study["variants"])):
        raise UnknownNameError(f"unknown variant(s) {sorted(unknown)}; study {study['name']} has {list(study['variants'])}")
    seeds = list(seeds if seeds is not None else study.get("seeds") or [])
    check_variants(study, names, extra, out)  # a broken variant fails now, not after the others trained
    rows: list[dict[str, Any]] = []
    seeded: list[dict[str, Any]] = []  # the same rows, the variants' tagged with their seed (seeds.md)
    convention = "cddfuse"
    first = True
    for name in names:
        for seed in seeds or [None]:
            run_dir = out / name if seed is None else out / name / f"seed{seed}"
            overrides = variant_overrides(study, name, extra)
            if seed is not None:
                overrides.append(f"seed={seed}")
            if not first:  # classical reference rows once per study, not once per variant (or seed)
                overrides.append("methods=[]")
            first = False
            if resume and (run_dir / "results.csv").is_file():
                log.info("ablation %s / %s%s: finished before, reading %s", study["name"], name,
                         "" if seed is None else f" / seed {seed}", run_dir / "results.csv")
                got = read_rows(run_dir)
                rows.extend(got)
                seeded.extend({**r, "seed": seed} if r["method"] == name else r for r in got)
                continue
            log.info("ablation %s / %s%s: %s", study["name"], name, "" if seed is None else f" / seed {seed}",
                     " ".join(overrides))
            cfg = compose(overrides, output_dir=run_dir)
            convention = cfg.eval.convention
            # The variant's own config beside its checkpoints, as a CLI run would leave it (checkpoints carry it too).
            (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
            OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
            (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
            result = run_training(cfg)
            got = list(result.get("rows") or [])
            rows.extend(got)
            seeded.extend({**r, "seed": seed} if r["method"] == name else r for r in got)
    notes = [f"Variants: {', '.join(names)}. Base overrides: {' '.join(study.get('base', []))}."]
    if seeds:
        notes.append(f"Seeds: {', '.join(map(str, seeds))} (this table: means over the images of every seed; "
                     "seeds.md: mean ± std over seeds).")
    write_results(rows, out, convention, title=f"ablation: {study['name']}", notes=notes)
    if seeds:
        write_seed_summary(seeded, out, names, seeds, title=f"ablation: {study['name']}", notes=notes)
    return rows


def variant_overrides(study: dict[str, Any], name: str, extra: Sequence[str] = ()) -> list[str]:
    """The overrides of one variant's run (before its seed and the once-per-study classical rows)."""
    return [*study.get("base", []), *study["variants"][name], *extra, f"method_name={name}",
            f"task_name={study['name']}"]


def check_variants(study: dict[str, Any], names: Sequence[str], extra: Sequence[str] = (),
                   out_dir: str | Path = ".") -> None:
    """Compose every variant and build its model and objective, without data or training: a variant whose
    overrides no longer fit the configs (a renamed key, a preset that changed under it) is reported by name
    before any variant has spent its minutes."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from fusionlab.config import compose

    for name in names:
        try:
            cfg = compose(variant_overrides(study, name, extra), output_dir=Path(out_dir) / name)
            instantiate(cfg.model)
            if cfg.get("loss"):
                instantiate(cfg.loss, _convert_="all")
        except Exception as err:  # noqa: BLE001 - re-raised with the variant's name, same type where possible
            root = err
            while isinstance(root, InstantiationException) and root.__cause__ is not None:
                root = root.__cause__  # Hydra's wrapper: the model's or loss's own error says what to fix
            msg = f"study {study['name']}, variant {name!r}: {root}"
            try:
                raised = type(root)(msg)
            except Exception:  # noqa: BLE001 - an exception type that takes other arguments
                raised = ConfigError(msg)
            raise raised from err


# -- across seeds -------------------------------------------------------------------------------------
HEADLINE = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM")


def dataset_means(rows: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None
                  ) -> dict[tuple[str, str], dict[str, float]]:
    """{(method, dataset): {metric: mean over its images}} (non-finite values skipped)."""
    acc: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for k, v in r.items():
            if k in ("method", "dataset", "task", "image", "seed") or (metrics is not None and k not in metrics):
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                acc[(r["method"], r["dataset"])][k].append(v)
    return {key: {m: sum(v) / len(v) for m, v in d.items()} for key, d in acc.items()}


def win_counts(means: dict[tuple[str, str], dict[str, float]], method: str, references: Sequence[str],
               metrics: Sequence[str] = HEADLINE) -> dict[str, dict[str, int]]:
    """{dataset: {reference: metrics won, ..., "all": metrics won against every reference}}.

    A metric is won when the method's dataset mean is strictly better than the reference's (direction from
    the metric registry; the headline metrics are all higher-is-better). Metrics a dataset lacks are skipped.
    """
    from fusionlab.engine.results import _higher_is_better

    out: dict[str, dict[str, int]] = {}
    for (m, dataset), mine in means.items():
        if m != method:
            continue
        refs = [r for r in references if (r, dataset) in means]
        counts = {r: 0 for r in refs}
        all_won = 0
        for metric in metrics:
            if metric not in mine:
                continue
            better = _higher_is_better(metric) is not False
            won = {r: metric in means[(r, dataset)] and ((mine[metric] > means[(r, dataset)][metric]) if better
                                                         else (mine[metric] < means[(r, dataset)][metric]))
                   for r in refs}
            for r in refs:
                counts[r] += int(won[r])
            all_won += int(bool(refs) and all(won.values()))
        counts["all"] = all_won
        out[dataset] = counts
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def _pm(values: Sequence[float], digits: int) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def seed_tables(rows: Sequence[dict[str, Any]], variants: Sequence[str],
                metrics: Sequence[str] = HEADLINE) -> tuple[str, dict[str, Any]]:
    """Markdown (and the numbers behind it) of each variant's mean ± std over seeds.

    The variants' ``rows`` carry a ``seed`` key; reference rows (classical rules) are
    seed-independent. Two tables: win counts per dataset against each classical rule and against all of them,
    and per-dataset metric means.
    """
    from fusionlab.baselines import BASELINES

    references = list(dict.fromkeys(r["method"] for r in rows if r["method"] in BASELINES))
    ref_means = dataset_means([r for r in rows if r["method"] in BASELINES], metrics)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    per_seed: dict[str, dict[Any, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["method"] in variants:
            per_seed[r["method"]][r.get("seed")].append(r)
    wins: dict[str, dict[str, dict[str, list[int]]]] = {}
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    for v in variants:
        wins[v] = defaultdict(lambda: defaultdict(list))
        values[v] = defaultdict(lambda: defaultdict(list))
        for seed_rows in per_seed.get(v, {}).values():
            means = {**ref_means, **dataset_means(seed_rows, metrics)}
            for dataset, counts in win_counts(means, v, references, metrics).items():
                for ref, n in counts.items():
                    wins[v][dataset][ref].append(n)
            for (m, dataset), d in means.items():
                if m == v:
                    for metric, value in d.items():
                        values[v][dataset][metric].append(value)
    cols = [*references, "all"] if references else []
    md = [f"Headline metrics: {', '.join(metrics)}. Win counts: metrics (of {len(metrics)}) on which the variant's "
          "dataset mean beats the classical rule's (`all`: beats every rule); mean ± std over seeds.", ""]
    if cols:
        md += ["| variant | dataset | seeds | " + " | ".join(f"vs {c}" for c in cols) + " |",
               "|---|---|---:|" + "---:|" * len(cols)]
        for v in variants:
            for d in datasets:
                if d not in wins[v]:
                    continue
                n = len(next(iter(wins[v][d].values())))
                md.append(f"| {v} | {d} | {n} | " + " | ".join(_pm(wins[v][d][c], 1) for c in cols) + " |")
        md.append("")
    md += ["| method | dataset | " + " | ".join(metrics) + " |", "|---|---|" + "---:|" * len(metrics)]
    for d in datasets:
        for v in variants:
            if d in values[v]:
                md.append(f"| {v} | {d} | " + " | ".join(_pm(values[v][d][m], 3) if values[v][d].get(m) else "nan"
                                                          for m in metrics) + " |")
        for ref in references:
            if (ref, d) in ref_means:
                md.append(f"| {ref} | {d} | " + " | ".join(f"{ref_means[(ref, d)].get(m, float('nan')):.3f}"
                                                            for m in metrics) + " |")
    return "\n".join(md), {"wins": wins, "values": values, "references": references, "ref_means": ref_means,
                           "datasets": datasets}


def write_seed_summary(rows: Sequence[dict[str, Any]], out_dir: str | Path, variants: Sequence[str],
                       seeds: Sequence[int], title: str, notes: Sequence[str] = ()) -> Path:
    """``seeds.md`` (mean ± std over seeds) and ``seeds.png`` (when matplotlib is installed) in ``out_dir``.

    Each variant row of ``rows`` must carry ``seed`` (the study adds it from the run folder)."""
    out = Path(out_dir)
    text, data = seed_tables(rows, variants)
    md = [f"# {title}: across seeds", "", *notes, "", text, ""]
    plot = plot_seed_summary(data, variants, out / "seeds.png")
    if plot is not None:
        md += [f"![per dataset: headline metrics relative to the average rule]({plot.name})", ""]
    path = out / "seeds.md"
    path.write_text("\n".join(md))
    return path


def plot_seed_summary(data: dict[str, Any], variants: Sequence[str], path: Path,
                      metrics: Sequence[str] = HEADLINE) -> Path | None:
    """Per dataset, each variant's headline metrics divided by the average rule's (mean ± std over seeds),
    beside the classical rows; None (and a log line) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: no plot (pip install -e '.[plots]')")
        return None
    datasets, refs, ref_means = data["datasets"], data["references"], data["ref_means"]
    base = "average" if "average" in refs else None
    cols = min(4, len(datasets))
    nrows = math.ceil(len(datasets) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(max(4.2 * cols, 8.0), 3.2 * nrows + 0.4), squeeze=False)
    series = [*variants, *[r for r in refs if r != base]]
    width = 0.8 / max(len(series), 1)
    for ax, d in zip(axes.flat, datasets):
        for j, name in enumerate(series):
            ys, es = [], []
            for m in metrics:
                denom = ref_means.get((base, d), {}).get(m, 1.0) if base else 1.0
                denom = denom if denom else 1.0
                if name in variants:
                    vals = data["values"][name].get(d, {}).get(m, [])
                    mean, std = mean_std(vals) if vals else (float("nan"), 0.0)
                else:
                    mean, std = ref_means.get((name, d), {}).get(m, float("nan")), 0.0
                ys.append(mean / denom)
                es.append(std / abs(denom))
            xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(metrics))]
            ax.bar(xs, ys, width, yerr=es if name in variants else None, label=name,
                   hatch=None if name in variants else "//", alpha=1.0 if name in variants else 0.6)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_title(d, fontsize=9)
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels(metrics, fontsize=7, rotation=45)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(datasets):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("relative to average rule" if base else "value", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4 if cols < 3 else 6), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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

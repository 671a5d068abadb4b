"""Turn per-image result rows into ``results.csv``, ``results.md``, image grids and a console table.

Files are written to a temporary name and renamed, so a crash never leaves a half-written table that
looks complete.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fusionlab.data.io import write_image

KEY_COLUMNS = ("method", "dataset", "task", "image")


def _higher_is_better(metric: str) -> bool | None:
    from fusionlab.metrics import METRICS

    if metric.endswith("_gt"):
        return True
    spec = METRICS.get(metric)
    return None if spec is None else spec.higher_is_better


def metric_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Metric names in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for k in row:
            if k not in KEY_COLUMNS:
                seen.setdefault(k, None)
    return list(seen)


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def summarise(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per (method, dataset, task) means, per (method, task) means over all images of the task)."""
    metrics = metric_columns(rows)
    by_ds: dict[tuple, list[dict]] = defaultdict(list)
    by_task: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_ds[(r["method"], r["dataset"], r["task"])].append(r)
        by_task[(r["method"], r["task"])].append(r)
    ds_rows = [{"method": m, "dataset": d, "task": t, "n": len(rs), **{k: _mean(r.get(k) for r in rs) for k in metrics}}
               for (m, d, t), rs in by_ds.items()]
    task_rows = [{"method": m, "task": t, "n": len(rs), **{k: _mean(r.get(k) for r in rs) for k in metrics}}
                 for (m, t), rs in by_task.items()]
    return ds_rows, task_rows


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


def _markdown_table(rows: list[dict[str, Any]], keys: Sequence[str], metrics: Sequence[str], group: Sequence[str]) -> str:
    """A markdown table; within each group (e.g. same dataset) the best value per metric is bold."""
    best: dict[tuple, dict[str, float]] = defaultdict(dict)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[g] for g in group)].append(r)
    for gkey, rs in groups.items():
        if len(rs) < 2:
            continue
        for m in metrics:
            direction = _higher_is_better(m)
            vals = [r[m] for r in rs if isinstance(r.get(m), float) and math.isfinite(r[m])]
            if direction is None or not vals:
                continue
            best[gkey][m] = max(vals) if direction else min(vals)
    header = "| " + " | ".join([*keys, *metrics]) + " |"
    sep = "|" + "|".join(["---"] * len(keys) + ["---:"] * len(metrics)) + "|"
    lines = [header, sep]
    for r in rows:
        gkey = tuple(r[g] for g in group)
        cells = [str(r[k]) for k in keys]
        for m in metrics:
            cell = _fmt(r.get(m, float("nan")))
            if m in best.get(gkey, {}) and r.get(m) == best[gkey][m]:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _defined(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """(metrics with at least one finite value, metrics undefined on every image of ``rows``)."""
    ok = [m for m in metrics if any(isinstance(r.get(m), float) and math.isfinite(r[m]) for r in rows)]
    return ok, [m for m in metrics if m not in ok]


def write_results(
    rows: Sequence[dict[str, Any]],
    out_dir: str | Path,
    convention: str,
    title: str = "fusionlab results",
    notes: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``results.csv`` (one row per image) and ``results.md`` (means per task); return their paths.

    Each task gets its own table with its own metric set (the columns its rows carry). A metric undefined on
    every image of a task (e.g. MS-SSIM on images under 161 px) is left out of that table, with a note.
    """
    if not rows:
        raise ValueError("no result rows to write: the evaluation suite produced no images")
    out = Path(out_dir)
    metrics = metric_columns(rows)
    columns = [*KEY_COLUMNS, *metrics]
    csv_path, md_path = out / "results.csv", out / "results.md"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})

    ds_rows, task_rows = summarise(rows)
    order = {d: i for i, d in enumerate(dict.fromkeys(r["dataset"] for r in rows))}
    methods = {m: i for i, m in enumerate(dict.fromkeys(r["method"] for r in rows))}
    ds_rows.sort(key=lambda r: (order[r["dataset"]], methods[r["method"]]))
    md = [
        f"# {title}",
        "",
        f"Metric convention: `{convention}` (inputs: luminance on 0..255, rounded as saved 8-bit images). "
        "Arrows give each metric's direction; the best value per dataset is in **bold** when several methods "
        "are compared.",
        *[f"{n}" for n in notes],
        "",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        task_images = [r for r in rows if r["task"] == task]
        shown, undefined = _defined(task_images, metric_columns(task_images))
        arrows = [f"{m} {'↑' if _higher_is_better(m) else '↓' if _higher_is_better(m) is False else ''}".strip()
                  for m in shown]
        md += [f"## {task.upper()}", "", f"Metrics: {', '.join(arrows)}."]
        if undefined:
            md.append(f"Left out: {', '.join(undefined)} (undefined on every image of this task, e.g. MS_SSIM "
                      "needs images larger than 160 px for its five scales).")
        md += ["", _markdown_table([r for r in ds_rows if r["task"] == task], ["method", "dataset", "n"], shown,
                                   ["dataset"]), ""]
        per_task = sorted((r for r in task_rows if r["task"] == task), key=lambda r: methods[r["method"]])
        if len({r["dataset"] for r in task_images}) > 1:
            md += [f"Mean over all {task.upper()} images:", "",
                   _markdown_table(per_task, ["method", "n"], shown, ["task"]), ""]
    _atomic_write(csv_path, buf.getvalue())
    _atomic_write(md_path, "\n".join(md))
    return csv_path, md_path


GRID_MAX_WIDTH = 2048
"""Widest grid written, in pixels: a grid is a preview (full-size fused images are saved next to it), and an
M3FD grid at full width (3084 x 3080) took 3.4 s to encode, 48 of them a third of a multi-method evaluation."""


def write_grids(panels: dict[str, list[torch.Tensor]], out_dir: str | Path, workers: int = 2) -> list[Path]:
    """One image per dataset: its a | b | fused panels stacked vertically.

    Panels are resized to a common width, at most :data:`GRID_MAX_WIDTH`, and written with fast PNG compression
    by ``workers`` threads (PNG encoding releases the GIL: two grids encode at once on two cores).
    """
    paths: list[Path] = []
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="fusionlab-grids")
    try:
        for dataset, tiles in panels.items():
            if not tiles:
                continue
            path = Path(out_dir) / "grids" / f"{dataset.replace('/', '_')}.png"
            pending.append(pool.submit(write_image, path, _grid(tiles).permute(1, 2, 0).numpy(), 1))
            paths.append(path)
            while len(pending) > max(1, workers):  # bounded: a grid is up to ~50 MB as float
                pending.popleft().result()
        while pending:
            pending.popleft().result()  # a failed write raises here
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return paths


def _grid(tiles: list[torch.Tensor]) -> torch.Tensor:
    """The panels of one dataset stacked vertically at a common width (at most GRID_MAX_WIDTH), 3 x H x W."""
    width = min(max(t.shape[-1] for t in tiles), GRID_MAX_WIDTH)
    rows = []
    for t in tiles:
        if t.shape[-1] != width:
            h = round(t.shape[-2] * width / t.shape[-1])
            t = torch.nn.functional.interpolate(t[None], size=(h, width), mode="bilinear", align_corners=False,
                                                antialias=t.shape[-1] > width)[0]
        rows.extend([t, torch.ones(3, 4, width)])
    return torch.cat(rows[:-1], dim=1).clamp(0, 1)


def console_table(rows: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None, title: str = "") -> Any:
    """A rich Table of per-dataset means (what the entry points print at the end)."""
    from rich.table import Table

    ds_rows, _ = summarise(rows)
    metrics = list(metrics or metric_columns(rows))
    table = Table(title=title or None)
    for col in ["method", "dataset", "task", "n", *metrics]:
        table.add_column(col, justify="right" if col in metrics or col == "n" else "left")
    # a metric outside a task's standard set was not measured there: "-", not a NaN that reads as a failure
    measured = {(r["method"], r["dataset"], k) for r in rows for k in r}
    for r in ds_rows:
        table.add_row(*[(_fmt(r[c]) if (r["method"], r["dataset"], c) in measured else "-") if c in metrics
                        else str(r[c]) for c in ["method", "dataset", "task", "n", *metrics]])
    return table

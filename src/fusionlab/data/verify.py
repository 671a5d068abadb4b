"""Checking a data folder before a run: layouts, pair counts, sizes and every problem, in one table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fusionlab.data.datasets import REAL_DATASETS, discover
from fusionlab.data.pairing import DatasetError, Problem, probe_pairs

# What `verify` reports: each group separately (the combined `harvard` key would only repeat them).
VERIFY_KEYS = tuple(k for k in REAL_DATASETS if k != "harvard")


@dataclass
class Report:
    key: str
    root: Path
    present: bool
    counts: dict[str, int] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (H, W) of every usable pair
    problems: list[Problem | str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.present and not self.problems

    def size_summary(self) -> str:
        uniq = sorted(set(self.sizes), key=lambda s: (s[0] * s[1], s))
        if not uniq:
            return "-"
        if len(uniq) <= 3:
            return ", ".join(f"{w}x{h}" for h, w in uniq)
        return f"{uniq[0][1]}x{uniq[0][0]} .. {uniq[-1][1]}x{uniq[-1][0]} ({len(uniq)} sizes)"


def verify_key(key: str, data_dir: Path) -> Report:
    """Discover ``key`` under ``data_dir`` and read every header (sizes, readability); never raises."""
    root = Path(data_dir) / REAL_DATASETS[key][1]
    report = Report(key, root, root.is_dir())
    if not report.present:
        return report
    try:
        found, problems = discover(key, data_dir)
    except DatasetError as err:
        report.problems.append(str(err))
        return report
    report.problems += problems
    for split, pairs in found.items():
        good, bad = probe_pairs(pairs)
        report.counts[split] = len(good)
        report.sizes += [p.size for p in good if p.size]
        report.problems += bad
    return report


def verify(data_dir: Path, keys: Sequence[str] | None = None) -> list[Report]:
    """Reports for ``keys`` (a root such as ``harvard`` or ``lytro`` expands to its groups)."""
    wanted = list(VERIFY_KEYS) if not keys else [
        k for name in keys for k in VERIFY_KEYS if k == name or REAL_DATASETS[k][1] == name]
    unknown = [n for n in keys or () if not any(k == n or REAL_DATASETS[k][1] == n for k in VERIFY_KEYS)]
    if unknown:
        raise DatasetError(f"unknown dataset(s) {unknown}; known: {', '.join(VERIFY_KEYS)}")
    return [verify_key(k, data_dir) for k in dict.fromkeys(wanted)]


def format_reports(reports: Sequence[Report]) -> str:
    """A plain-text table plus the list of problems under it."""
    rows = [("dataset", "status", "pairs", "sizes (WxH)")]
    for r in reports:
        status = "missing" if not r.present else ("ok" if r.ok else f"{len(r.problems)} problem(s)")
        pairs = " ".join(f"{s}={n}" for s, n in r.counts.items()) if len(r.counts) > 1 else str(
            sum(r.counts.values()) if r.counts else "-")
        rows.append((r.key, status, pairs, r.size_summary()))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    for r in reports:
        if not r.present:
            lines.append(f"\n{r.key}: {r.root} not found (download: python -m fusionlab.data download "
                         f"{REAL_DATASETS[r.key][1]})")
        for p in r.problems:
            lines.append(f"{r.key}: {p}")
    return "\n".join(lines)

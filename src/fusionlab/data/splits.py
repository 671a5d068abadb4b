"""Which pairs of a real dataset train, validate and test: official splits, seeded hold-outs and split files.

Test-only datasets train only when ``data.options.real.splits`` names them (a seeded fraction or a split
file); the choice is a pure function of the seed and the pair names, so it is the same on every machine.
"""

from __future__ import annotations

import json
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

from fusionlab.data.pairing import DatasetError, Pair
from fusionlab.data.transforms import RealOptions

SPLITS = ("train", "val", "test")


class SplitError(DatasetError):
    """A split that the dataset does not have as configured."""


# -- splits ---------------------------------------------------------------------------------------
def _ranked(pairs: Sequence[Pair], key: str, seed: int) -> list[Pair]:
    """A seeded order that depends only on (seed, key, name): adding a pair moves no other pair."""
    return sorted(pairs, key=lambda p: zlib.crc32(f"{seed}:{key}:{p.name}".encode()))


def _hold_out(pairs: Sequence[Pair], fraction: float, key: str, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(kept, held) with ``held`` a seeded ``fraction`` of ``pairs``: >= 1 pair when possible, never all."""
    n = len(pairs)
    n_held = 0 if fraction <= 0 or n < 2 else min(n - 1, max(1, round(fraction * n)))
    held = {p.name for p in _ranked(pairs, key, seed)[:n_held]}
    return [p for p in pairs if p.name not in held], [p for p in pairs if p.name in held]


def _in_trainval(pair: Pair, root_dir: Path, fraction: float, seed: int) -> bool:
    """Train+val vs test by a per-file hash threshold, so a pair lands on the same side whichever key
    it is reached through (``harvard`` for training, ``harvard/PET-MRI`` for testing): no leakage."""
    try:
        uid = pair.a.relative_to(root_dir).as_posix()
    except ValueError:
        uid = pair.a.as_posix()
    return zlib.crc32(f"{seed}:{uid}".encode()) / 2**32 < fraction


def _from_split_file(path: Path, pairs: Sequence[Pair], key: str) -> dict[str, list[Pair]]:
    """A JSON file ``{"train": [names], "val": [names], "test": [names]}`` (missing lists are empty)."""
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SplitError(f"{key}: cannot read split file {path}: {err}") from err
    if not isinstance(spec, dict) or set(spec) - set(SPLITS):
        raise SplitError(f"{key}: split file {path} must be a JSON object with keys among {SPLITS}")
    by_name = {p.name: p for p in pairs}
    out, seen = {}, {}
    for split in SPLITS:
        names = [str(n) for n in spec.get(split, [])]
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise SplitError(f"{key}: split file {path} names unknown pairs {unknown[:10]} in {split!r}")
        for n in names:
            if n in seen:
                raise SplitError(f"{key}: split file {path} puts {n!r} in both {seen[n]!r} and {split!r}")
            seen[n] = split
        out[split] = [by_name[n] for n in names]
    return out


def select_split(key: str, root: str, found: dict[str, list[Pair]], split: str, opts: RealOptions,
                 root_dir: Path | None = None) -> list[Pair]:
    """The pairs of ``split``.

    Datasets with an official training split (MSRS): ``val`` is a seeded ``val_fraction`` slice of the
    official train pairs and ``train`` the rest; ``test`` is the official test split.

    Test-only datasets: ``test`` is every pair unless ``opts.splits`` names the dataset (by key, e.g.
    ``harvard/PET-MRI``, or by root, e.g. ``harvard``) as either a fraction ``f`` - each pair is in
    train+val with probability ``f`` by a seeded hash of its file path (the same pair falls on the same
    side under every key; val = a ``val_fraction`` slice of train+val), the rest is test - or a path to
    a JSON split file naming the key's sample names. Without that, ``train``/``val`` are an error that says how to enable them.
    """
    if split not in SPLITS:
        raise SplitError(f"{key}: split must be one of {SPLITS}, got {split!r}")
    seed = opts.split_seed
    if "train" in found:
        if split == "test":
            return list(found.get("test", []))
        train, val = _hold_out(found["train"], opts.val_fraction, key, seed)
        return train if split == "train" else val
    pairs = found["all"]
    rule = opts.splits.get(key, opts.splits.get(root))
    if rule is None:
        if split == "test":
            return list(pairs)
        raise SplitError(
            f"{key} is a test-only dataset by default, so it has no {split!r} split. To train on it, hold "
            f"out a seeded test part with data.options.real.splits={{{key}: 0.8}} (fraction used for "
            f"train+val), or give a JSON split file: data.options.real.splits={{{key}: path/to/split.json}} "
            'with {"train": [names], "val": [names], "test": [names]}.'
        )
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        if not 0.0 < float(rule) < 1.0:
            raise SplitError(f"{key}: split fraction must be in (0, 1), got {rule}")
        base = root_dir if root_dir is not None else Path("/")
        trainval = [p for p in pairs if _in_trainval(p, base, float(rule), seed)]
        if split == "test":
            test = [p for p in pairs if not _in_trainval(p, base, float(rule), seed)]
            if not test:
                warnings.warn(f"{key}: the split fraction {rule} leaves no test pairs", stacklevel=2)
            return test
        train, val = _hold_out(trainval, opts.val_fraction, key, seed + 1)
        return train if split == "train" else val
    return _from_split_file(Path(str(rule)), pairs, key)[split]


# -- the dataset ----------------------------------------------------------------------------------

"""Which image pairs ``fuse`` should fuse: two files, two folders, or one folder in a paired layout.

Folders are paired by the dataset rules of :mod:`fusionlab.data.pairing`, so a user's folders and the
official datasets succeed and fail the same way, with the same messages. Pairs that cannot be used
(missing partner, ambiguous name, size mismatch, unreadable header) come back as *problems* so that
the caller can fuse every other pair and report these at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

from fusionlab.data.pairing import (
    DatasetError,
    Pair,
    Problem,
    is_image_file,
    pair_by_stem,
    pair_by_suffix_letter,
    pair_mef_scenes,
    probe_pairs,
)


class InputError(DatasetError):
    """The ``a=``/``b=``/``out=`` arguments cannot work at all (nothing would be fused)."""


def pair_name(a: Path, b: Path) -> str:
    """Output name of a file pair: the shared stem, or its common prefix (``lytro-01-A``/``-B`` -> ``lytro-01``)."""
    if a.stem == b.stem:
        return a.stem
    prefix = os.path.commonprefix([a.stem, b.stem]).rstrip("-_. ")
    return prefix or a.stem


def find_pairs(a: str | Path, b: str | Path | None = None) -> tuple[list[Pair], list[Problem]]:
    """The pairs named by ``a``/``b`` and the pairs that cannot be fused (with reasons).

    - two files: one pair;
    - two folders: files matched by name (stem; extensions may differ), as for MSRS or Harvard;
    - one folder (``b`` omitted or equal to ``a``): ``<id>-A.*``/``<id>-B.*`` files (Lytro style), or
      one sub-folder per scene with ``<Scene>_A.*``/``<Scene>_B.*`` (MEFB style).

    Paths that do not exist, or a file given with a folder, raise :class:`InputError`.
    """
    pa = Path(a)
    pb = Path(b) if b not in (None, "") else None
    for label, p in (("a", pa), ("b", pb)):
        if p is not None and not p.exists():
            raise InputError(f"{label}={p} does not exist")
    if pb is None or (pa.is_dir() and pb.is_dir() and pa.resolve() == pb.resolve()):
        if not pa.is_dir():
            raise InputError(f"b= is missing: give a second file, or a folder a= that holds <id>-A/<id>-B pairs "
                             f"(got file {pa})")
        if any(is_image_file(f) for f in pa.iterdir()):
            pairs, problems = pair_by_suffix_letter(pa, "AB")
        else:
            pairs, problems = pair_mef_scenes(pa)
    elif pa.is_file() and pb.is_file():
        pairs, problems = [Pair(pair_name(pa, pb), pa, pb)], []
    elif pa.is_dir() and pb.is_dir():
        pairs, problems = pair_by_stem(pa, pb)
    else:
        kind = {True: "a folder", False: "a file"}
        raise InputError(f"a= and b= must both be files or both be folders, got {kind[pa.is_dir()]} ({pa}) "
                         f"and {kind[pb.is_dir()]} ({pb})")
    good, bad = probe_pairs(pairs)
    return good, problems + bad

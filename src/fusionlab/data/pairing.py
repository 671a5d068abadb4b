"""Finding the image pairs of a dataset in its official layout, and checking them before any training.

Each layout gets one small discovery function that returns ``(pairs, problems)``. A *problem* is a pair
that cannot be used (an unpaired file, an ambiguous match, a size mismatch, an unreadable header); the
caller decides whether problems are fatal (``on_bad_pair=error``) or skipped with one warning and a
count (``on_bad_pair=skip``). A missing or empty top-level folder is always an error: a dataset with
no pairs is never what a run wants. Nothing is matched loosely, so nothing silently mis-pairs.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fusionlab.data.io import IMAGE_SUFFIXES, read_image
from fusionlab.errors import DataError


class DatasetError(DataError):
    """Base class: a dataset on disk that cannot be used as configured; the message says how to fix it."""


class DatasetLayoutError(DatasetError):
    """A folder of the official layout is missing or holds no images."""


class BadPairError(DatasetError):
    """One or more pairs are unusable and ``on_bad_pair`` is ``error``."""


@dataclass(frozen=True)
class Pair:
    """One fusion sample on disk: source ``a``, source ``b`` and, for N-source series, further sources."""

    name: str
    a: Path
    b: Path
    extra: tuple[Path, ...] = ()
    size: tuple[int, int] | None = None  # (H, W), filled by :func:`probe_pairs`
    channels: tuple[int, ...] = field(default=(), compare=False)  # bands per source, as stored

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.a, self.b, *self.extra)


@dataclass(frozen=True)
class Problem:
    """Why a pair (or a file) was rejected; ``where`` names the pair or file."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def natural_key(text: str) -> tuple:
    """Sort ``2.png`` before ``10.png`` (Harvard and user folders number files without padding)."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text))


def is_image_file(path: Path) -> bool:
    """An image by suffix (case-insensitive); hidden files such as ``.DS_Store`` are never images."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, naturally sorted; a missing or empty folder is an error."""
    if not folder.is_dir():
        raise DatasetLayoutError(f"expected folder {folder} does not exist (see data/README.md for the layout)")
    files = sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: natural_key(p.name))
    if not files:
        raise DatasetLayoutError(
            f"folder {folder} holds no images (suffixes {', '.join(IMAGE_SUFFIXES)}); "
            "is the download complete? Run `python -m fusionlab.data verify`"
        )
    return files


def _by_stem(files: Iterable[Path], problems: list[Problem]) -> dict[str, Path]:
    """Map file stem -> path; two files with one stem (``x.png`` and ``x.jpg``) are ambiguous."""
    out: dict[str, Path] = {}
    clashes: dict[str, list[Path]] = {}
    for f in files:
        if f.stem in out:
            clashes.setdefault(f.stem, [out[f.stem]]).append(f)
        else:
            out[f.stem] = f
    for stem, paths in clashes.items():
        del out[stem]
        problems.append(Problem(str(paths[0].parent / stem),
                                f"ambiguous: several files share the name {stem!r}: "
                                + ", ".join(p.name for p in paths)))
    return out


def pair_by_stem(dir_a: Path, dir_b: Path, prefix: str = "") -> tuple[list[Pair], list[Problem]]:
    """Pairs of two parallel folders matched by file stem (extensions may differ)."""
    problems: list[Problem] = []
    a_files = _by_stem(list_images(dir_a), problems)
    b_files = _by_stem(list_images(dir_b), problems)
    pairs = []
    for stem in sorted(set(a_files) | set(b_files), key=natural_key):
        fa, fb = a_files.get(stem), b_files.get(stem)
        if fa is None or fb is None:
            have, missing_dir = (fb, dir_a) if fa is None else (fa, dir_b)
            problems.append(Problem(str(have), f"unpaired: no file named {stem}.* in {missing_dir}"))
            continue
        pairs.append(Pair(prefix + stem, fa, fb))
    return pairs, problems


_SIDE_RE = re.compile(r"^(?P<id>.+)-(?P<side>[A-Za-z])$")


def pair_by_suffix_letter(folder: Path, letters: str = "AB") -> tuple[list[Pair], list[Problem]]:
    """Lytro style: ``<id>-A.jpg`` / ``<id>-B.jpg`` (``-C`` … for series) in one flat folder."""
    problems: list[Problem] = []
    groups: dict[str, dict[str, Path]] = {}
    for f in list_images(folder):
        m = _SIDE_RE.match(f.stem)
        if not m:
            problems.append(Problem(str(f), f"name does not end in -{'/-'.join(letters)}; not part of a pair"))
            continue
        side = m["side"].upper()
        slot = groups.setdefault(m["id"], {})
        if side in slot:
            problems.append(Problem(str(f), f"ambiguous: {slot[side].name} is also side {side} of {m['id']}"))
            continue
        slot[side] = f
    pairs = []
    for sid in sorted(groups, key=natural_key):
        slot = groups[sid]
        missing = [s for s in letters if s not in slot]
        unexpected = sorted(set(slot) - set(letters))
        if missing:
            have = ", ".join(p.name for p in slot.values())
            problems.append(Problem(str(folder / sid), f"unpaired: {have} has no -{'/-'.join(missing)} partner"))
            continue
        if unexpected:
            problems.append(Problem(str(folder / sid),
                                    f"unexpected sources {unexpected} beside -{'/-'.join(letters)}"))
            continue
        pairs.append(Pair(sid, slot[letters[0]], slot[letters[1]], tuple(slot[s] for s in letters[2:])))
    return pairs, problems


def pair_mef_scenes(input_dir: Path) -> tuple[list[Pair], list[Problem]]:
    """MEFB: one folder per scene with ``<Scene>_A.*`` (under) and ``<Scene>_B.*`` (over).

    Suffix and scene prefix are matched case-insensitively (``Sky/sKY_a.png``); the duplicate originals
    that many scene folders also hold (``507/_MDF0003.tif``) are ignored because only ``_A``/``_B`` count.
    """
    if not input_dir.is_dir():
        raise DatasetLayoutError(f"expected folder {input_dir} does not exist (MEFB layout: input/<Scene>/)")
    scenes = sorted((d for d in input_dir.iterdir() if d.is_dir() and not d.name.startswith(".")),
                    key=lambda d: natural_key(d.name))
    if not scenes:
        raise DatasetLayoutError(f"folder {input_dir} holds no scene folders (MEFB layout: input/<Scene>/)")
    pairs, problems = [], []
    for scene in scenes:
        files = [f for f in scene.iterdir() if is_image_file(f)]
        chosen: dict[str, Path] = {}
        for side in ("a", "b"):
            cands = [f for f in files if f.stem.lower().endswith("_" + side)]
            if len(cands) > 1:  # prefer the file named after its scene
                cands = [f for f in cands if f.stem.lower() == f"{scene.name.lower()}_{side}"] or cands
            if len(cands) == 1:
                chosen[side] = cands[0]
            elif not cands:
                listing = ", ".join(sorted(f.name for f in files)) or "no images"
                problems.append(Problem(str(scene), f"no {scene.name}_{side.upper()}.* image (found: {listing})"))
            else:
                problems.append(Problem(str(scene), f"ambiguous _{side.upper()} images: "
                                        + ", ".join(sorted(f.name for f in cands))))
        if len(chosen) == 2:
            pairs.append(Pair(scene.name, chosen["a"], chosen["b"]))
    return pairs, problems


def _header(path: Path) -> tuple[tuple[int, int], int, str]:
    """(H, W), band count and mode from the file header, without decoding the pixels."""
    with Image.open(path) as img:
        w, h = img.size
        return (h, w), len(img.getbands()), img.mode


def probe_pairs(pairs: Sequence[Pair], decode: bool = False) -> tuple[list[Pair], list[Problem]]:
    """Read headers (or decode fully, ``decode=True``): unreadable files and size mismatches are problems.

    Images with an alpha channel (2 or 4 bands) are usable - alpha is dropped - but say so once each.
    """
    good, problems = [], []
    for pair in pairs:
        sizes, bands = [], []
        try:
            for f in pair.files:
                size, nb, mode = _header(f)
                if decode:
                    read_image(f)
                sizes.append(size)
                bands.append(nb)
                if nb in (2, 4) and mode != "CMYK":
                    warnings.warn(f"{f}: {nb}-channel image ({mode}); the alpha channel is ignored", stacklevel=2)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            problems.append(Problem(pair.name, f"unreadable image {f}: {err}"))
            continue
        if len(set(sizes)) > 1:
            desc = ", ".join(f"{f.name} is {w}x{h}" for f, (h, w) in zip(pair.files, sizes))
            problems.append(Problem(pair.name, f"size mismatch inside the pair: {desc} (W x H)"))
            continue
        good.append(replace(pair, size=sizes[0], channels=tuple(bands)))
    return good, problems


def settle(problems: Sequence[Problem], on_bad_pair: str, what: str) -> int:
    """Raise for problems (``error``) or warn once with the count (``skip``); returns the skipped count."""
    if not problems:
        return 0
    shown = "\n  ".join(str(p) for p in problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    if on_bad_pair == "skip":
        warnings.warn(f"{what}: skipped {len(problems)} bad pair(s) (on_bad_pair=skip):\n  {shown}{more}",
                      stacklevel=2)
        return len(problems)
    raise BadPairError(f"{what}: {len(problems)} bad pair(s):\n  {shown}{more}\n"
                       "Fix or remove these files, or set data.options.real.on_bad_pair=skip to skip them.")

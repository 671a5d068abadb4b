"""Fetching the public datasets into ``<data_dir>/<key>`` in their official layouts.

Downloads resume (HTTP ``Range``) from a ``.part`` file, are checked against a sha256 when one is
known or given, and archives are extracted only after *every* member has been checked: absolute paths,
``..`` components, links and device files reject the whole archive, so a hostile or broken archive
never writes outside the dataset folder. Extraction copies bytes member by member; it never calls
``tarfile.extract`` or ``ZipFile.extract``, whose behaviour on odd members differs between versions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fusionlab.errors import FusionlabError


class DownloadError(FusionlabError, RuntimeError):
    """A download or extraction that failed; the message names the URL or member and what to do."""


class UnsafeArchiveError(DownloadError):
    """An archive member that would escape the target folder or is not a plain file/folder."""


@dataclass(frozen=True)
class Resource:
    """Where one dataset root comes from and which part of the archive becomes ``<data_dir>/<key>``."""

    key: str
    url: str
    sha256: str | None  # of the archive; None = not pinned (the computed digest is printed and recorded)
    subdir: str = ""  # folder inside the archive (below its single top folder) that becomes the root
    include: tuple[str, ...] = ()  # first-level entries of ``subdir`` to keep (empty = everything)
    note: str = ""


def _github(repo: str, commit: str) -> str:
    return f"https://github.com/{repo}/archive/{commit}.zip"


# GitHub archives of the exact commits the dev sample was taken from (see ../shared/data/README.md).
# GitHub does not promise byte-stable archives, so their sha256 is not pinned: pass --sha256 to pin one.
RESOURCES: dict[str, Resource] = {
    "msrs": Resource("msrs", _github("Linfeng-Tang/MSRS", "2052589d3a714d0285c8792e24d2db290d84b6ea"), None,
                     include=("train", "test", "Segmentation_labels"),
                     note="official repository (~670 MB)"),
    "m3fd": Resource("m3fd", _github("CharlesShan-hub/M3FD-Fusion-Backup", "1bdfc14f95b931a2db979564c9fef9b0d02142a1"),
                     None, include=("M3FD_Fusion",),
                     note="GitHub mirror of the official Google-Drive M3FD_Fusion.zip (the official "
                          "download has no direct URL; fetch it by hand and pass --url file://... to use it)"),
    "roadscene": Resource("roadscene", _github("hanna-xu/RoadScene", "ab71420f8fc96396eeb97eecf3694909b3feb656"),
                          None, include=("cropinfrared", "crop_LR_visible", "crop_HR_visible", "infrared"),
                          note="official repository"),
    "harvard": Resource("harvard", _github("xianming-gu/Havard-Medical-Image-Fusion-Datasets",
                                           "984d169e8abd01baa130db3c5b9be3ba80191c1f"),
                        None, include=("CT-MRI", "PET-MRI", "SPECT-MRI"),
                        note="AANLIB-derived pairs as published by xianming-gu"),
    "mef": Resource("mef", _github("xingchenzhang/MEFB", "9e185bf88de280b12a2d9a2ff12d66e40bc1ff91"), None,
                    include=("input",), note="MEFB benchmark repository (inputs only are kept)"),
    "lytro": Resource("lytro", _github("uzeful/IFCNN", "8fe59c2b1553e52acc793986208ca479d134a8da"), None,
                      subdir="Code/datasets/CMFDataset", note="official Lytro zip contents as kept in IFCNN"),
}


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _copy_stream(src: BinaryIO, dst: BinaryIO, total: int | None, done: int, quiet: bool) -> None:
    step, next_report = 1 << 20, 0
    while block := src.read(step):
        dst.write(block)
        done += len(block)
        if not quiet and done >= next_report:
            pct = f" ({100 * done / total:.0f}%)" if total else ""
            print(f"\r  {done / 2**20:8.1f} MiB{pct}", end="", file=sys.stderr, flush=True)
            next_report = done + 8 * step
    if not quiet:
        print(file=sys.stderr)


def fetch(url: str, dest: Path, sha256: str | None = None, *, timeout: float = 60.0, quiet: bool = False) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part``; a sha256 mismatch deletes the file and fails."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256.lower()):
        return dest
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "fusionlab-download"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            status = getattr(resp, "status", 200)
            resumed = start > 0 and status == 206 and resp.headers.get("Content-Range", "").startswith(
                f"bytes {start}-")
            length = resp.headers.get("Content-Length")
            total = (int(length) + (start if resumed else 0)) if length else None
            if not quiet:
                print(f"{'resuming' if resumed else 'downloading'} {url}", file=sys.stderr)
            with open(part, "ab" if resumed else "wb") as out:
                _copy_stream(resp, out, total, start if resumed else 0, quiet)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # the .part already holds everything the server has
            pass
        else:
            raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise DownloadError(f"download of {url} failed: {err}; run the command again to resume") from err
    digest = sha256_of(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise DownloadError(f"sha256 mismatch for {url}: expected {sha256.lower()}, got {digest}; "
                            "the file was removed - run again, or check the URL")
    part.replace(dest)
    return dest


# -- safe extraction ------------------------------------------------------------------------------
def _check_name(name: str, archive: Path) -> PurePosixPath:
    """A member name as a relative POSIX path, or an UnsafeArchiveError naming it."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: refusing member {name!r}: absolute or Windows-style path")
    path = PurePosixPath(name)
    if any(part == ".." for part in path.parts):
        raise UnsafeArchiveError(f"{archive}: refusing member {name!r}: path traversal ('..')")
    return path


def _members(archive: Path) -> Iterator[tuple[PurePosixPath, bool, object]]:
    """(path, is_dir, handle) for every member, after rejecting links, devices and unsafe names."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
        for info in infos:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(f"{archive}: refusing member {info.filename!r}: symbolic link")
            yield _check_name(info.filename, archive), info.is_dir(), info
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
        for m in members:
            if m.issym() or m.islnk():
                raise UnsafeArchiveError(f"{archive}: refusing member {m.name!r}: link to {m.linkname!r}")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: refusing member {m.name!r}: not a regular file or folder")
            yield _check_name(m.name, archive), m.isdir(), m
    else:
        raise DownloadError(f"{archive} is neither a zip nor a tar archive (truncated download?); delete it "
                            "and run again")


def safe_extract(archive: Path, dest: Path, subdir: str = "", include: tuple[str, ...] = ()) -> int:
    """Extract the ``subdir`` part of ``archive`` into ``dest``; returns the number of files written.

    A single top-level folder (``<repo>-<commit>/`` in GitHub archives) is stripped first. Every member
    is validated before anything is written.
    """
    archive, dest = Path(archive), Path(dest)
    members = list(_members(archive))  # raises before any write
    tops = {p.parts[0] for p, _, _ in members if p.parts}
    strip = 1 if len(tops) == 1 and any(len(p.parts) > 1 for p, _, _ in members) else 0
    prefix = PurePosixPath(subdir).parts if subdir else ()
    plan = []
    for path, is_dir, handle in members:
        parts = path.parts[strip:]
        if parts[: len(prefix)] != prefix:
            continue
        parts = parts[len(prefix):]
        if not parts or (include and parts[0] not in include):
            continue
        plan.append((parts, is_dir, handle))
    if not plan:
        raise DownloadError(f"{archive}: nothing found under {subdir or 'the archive root'!r}"
                            + (f" among {include}" if include else ""))
    root = dest.resolve()
    written = 0
    opener = zipfile.ZipFile(archive) if zipfile.is_zipfile(archive) else tarfile.open(archive)
    with opener as arc:
        for parts, is_dir, handle in plan:
            target = root.joinpath(*parts)
            if not target.resolve().is_relative_to(root):  # belt and braces after the name checks
                raise UnsafeArchiveError(f"{archive}: member {'/'.join(parts)!r} resolves outside {dest}")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = arc.open(handle) if isinstance(arc, zipfile.ZipFile) else arc.extractfile(handle)
            assert src is not None
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            written += 1
    return written


def download(key: str, data_dir: Path, *, url: str | None = None, sha256: str | None = None,
             keep_archive: bool = False, quiet: bool = False) -> Path:
    """Fetch and extract dataset ``key`` into ``<data_dir>/<key>``; returns that folder."""
    if key not in RESOURCES:
        raise DownloadError(f"unknown dataset {key!r}; available: {', '.join(RESOURCES)}")
    res = RESOURCES[key]
    url = url or res.url
    sha256 = sha256 or res.sha256
    data_dir = Path(data_dir)
    archive = data_dir / ".downloads" / f"{key}-{Path(url.split('?')[0]).name or 'archive'}"
    fetch(url, archive, sha256, quiet=quiet)
    digest = sha256_of(archive)
    root = data_dir / key
    n = safe_extract(archive, root, res.subdir, res.include)
    (root / ".fusionlab-download.json").write_text(json.dumps({"url": url, "sha256": digest, "files": n}, indent=2))
    if not quiet:
        pinned = "verified" if sha256 else "not pinned; pass --sha256 to pin"
        print(f"{key}: {n} files into {root} (archive sha256 {digest}, {pinned})", file=sys.stderr)
    if not keep_archive:
        archive.unlink()
    return root

"""``python -m fusionlab.data download NAME [--root DIR]``, ``python -m fusionlab.data verify [NAME]`` and
``python -m fusionlab.data cache NAME [--jobs N]`` (decode a dataset once into the training disk cache).

``--root`` is the data folder that holds one sub-folder per dataset (``paths.data_dir``); it defaults
to ``$FUSIONLAB_DATA`` or ``./data``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fusionlab.data.download import RESOURCES, DownloadError, download
from fusionlab.data.pairing import DatasetError
from fusionlab.data.verify import format_reports, verify


def _default_root() -> Path:
    return Path(os.environ.get("FUSIONLAB_DATA") or "data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusionlab.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="fetch a dataset into <root>/<name> in its official layout")
    dl.add_argument("name", choices=[*RESOURCES, "all"])
    dl.add_argument("--root", type=Path, default=None, help="data folder (default: $FUSIONLAB_DATA or ./data)")
    dl.add_argument("--url", default=None, help="another location of the same archive (mirror, file://)")
    dl.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    dl.add_argument("--keep-archive", action="store_true", help="keep <root>/.downloads/<archive>")
    vf = sub.add_parser("verify", help="check layouts and print pair counts, sizes and problems")
    vf.add_argument("names", nargs="*", help="datasets or groups (default: all)")
    vf.add_argument("--root", type=Path, default=None, help="data folder (default: $FUSIONLAB_DATA or ./data)")
    ca = sub.add_parser("cache", help="decode every image of the datasets into the training disk cache")
    ca.add_argument("names", nargs="+", help="dataset keys (msrs, m3fd, ...)")
    ca.add_argument("--root", type=Path, default=None, help="data folder (default: $FUSIONLAB_DATA or ./data)")
    ca.add_argument("--cache", default="auto", help="cache folder (default: auto, as disk_cache)")
    ca.add_argument("--jobs", type=int, default=0, help="processes (default: one per CPU)")
    args = parser.parse_args(argv)
    root = args.root or _default_root()
    try:
        if args.command == "cache":
            return _fill_cache(root, args.names, args.cache, args.jobs)
        if args.command == "download":
            names = list(RESOURCES) if args.name == "all" else [args.name]
            if len(names) > 1 and (args.url or args.sha256):
                parser.error("--url/--sha256 apply to one dataset, not 'all'")
            for name in names:
                download(name, root, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive)
            reports = verify(root, names)
        else:
            reports = verify(root, args.names)
    except (DownloadError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_reports(reports))
    named = args.command == "download" or bool(getattr(args, "names", None))
    failed = [r for r in reports if (r.present and not r.ok) or (named and not r.present)]
    return 1 if failed else 0


def _fill_cache(root: Path, names: list[str], setting: str, jobs: int) -> int:
    from fusionlab.data.cache import fill, resolve_root
    from fusionlab.data.datasets import REAL_DATASETS, discover

    cache_root = resolve_root(setting)
    if cache_root is None:
        print("error: --cache is off; name a folder or use auto", file=sys.stderr)
        return 2
    for name in names:
        if name not in REAL_DATASETS:
            raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(REAL_DATASETS)}")
        found, _ = discover(name, root)
        files = [f for pairs in found.values() for p in pairs for f in p.files]
        hits, new = fill(files, cache_root, jobs)
        print(f"{name}: {len(files)} images, {hits} already cached, {new} decoded (cache {cache_root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

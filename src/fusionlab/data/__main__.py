"""``python -m fusionlab.data download NAME [--root DIR]`` and ``python -m fusionlab.data verify [NAME]``.

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
    args = parser.parse_args(argv)
    root = args.root or _default_root()
    try:
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


if __name__ == "__main__":
    sys.exit(main())

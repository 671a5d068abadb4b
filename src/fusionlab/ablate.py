"""``python -m fusionlab.ablate experiments/STUDY.yaml [--out DIR] [--only a,b] [--seeds 1,2,3] [--resume] [override ...]``
or ``python -m fusionlab.ablate --collect outputs/<task>/multiruns/<date>``.

Runs each variant of an ablation study (see :mod:`fusionlab.engine.ablation`) and writes one table, or
aggregates the jobs of a finished Hydra multirun into one table.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from fusionlab import cli


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fusionlab.ablate", description=__doc__)
    parser.add_argument("study", nargs="?", help="study YAML, e.g. experiments/loss_terms.yaml")
    parser.add_argument("--collect", metavar="SWEEP_DIR", help="aggregate a finished multirun folder instead")
    parser.add_argument("--out", help="output folder (default: outputs/ablations/<study>/<date_time>)")
    parser.add_argument("--only", help="comma-separated variant names to run")
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3: train every variant once per seed (mean ± std in "
                        "seeds.md; default: the study's own 'seeds', else one run)")
    parser.add_argument("--resume", action="store_true", help="reuse the finished runs under --out (folders with "
                        "results.csv) and run only the missing ones")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every variant")
    args = parser.parse_intermixed_args(argv)  # the study, flags and overrides in any order
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")

    def run() -> None:
        from fusionlab.engine.ablation import collect_multirun, load_study, run_study

        if args.collect:
            collect_multirun(args.collect)
            print(f"multirun table: {Path(args.collect) / 'results.md'}")
            return
        if not args.study:
            parser.error("give a study YAML or --collect SWEEP_DIR")
        study = load_study(args.study)
        out = Path(args.out or Path("outputs") / "ablations" / study["name"] / time.strftime("%Y-%m-%d_%H-%M-%S"))
        only = args.only.split(",") if args.only else None
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
        if args.resume and not args.out:
            parser.error("--resume needs --out: the folder of the interrupted study")
        run_study(study, out, args.overrides, only, seeds, resume=args.resume)
        print(f"study {study['name']}: {out / 'results.md'}")

    cli.run_cli(run)


if __name__ == "__main__":
    main()

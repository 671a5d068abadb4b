"""``python -m fusionlab.fuse ckpt_path=PATH|method=NAME a=FILE|DIR b=FILE|DIR out=DIR``: fuse your own pairs.

Files or folders (paired by name like the datasets), any size (tiled above ``tile_size``), colour restored.
Exit code 0 when every pair was fused, 1 when some were skipped (listed in the summary), 2 on a usage error.
Example: ``python -m fusionlab.fuse ckpt_path=run/checkpoints/last.ckpt a=ir/ b=vi/ out=fused/ preview=true``.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from fusionlab import cli
from fusionlab.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="fuse")
def _hydra_main(cfg: DictConfig) -> None:
    from fusionlab.inference import run_fuse

    report = cli.run_cli(lambda: run_fuse(cfg))
    print(report.summary(), flush=True)
    if not report.ok:
        sys.exit(1)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()

"""``python -m fusionlab.evaluate ckpt_path=PATH methods=[average,gff] eval=zero_shot``: one comparison table.

Evaluates a trained checkpoint and/or classical baselines on an evaluation suite and writes the same outputs
as a training run (``results.csv``, ``results.md``, fused images, grids, W&B table and panels).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from fusionlab import cli
from fusionlab.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="evaluate")
def _hydra_main(cfg: DictConfig) -> None:
    from fusionlab.engine.comparison import run_evaluation

    def run() -> dict:
        OmegaConf.resolve(cfg)  # ${hydra:...} resolves only here, not in spawned DDP workers
        return run_evaluation(cfg)

    cli.run_cli(run)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()

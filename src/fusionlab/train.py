"""``python -m fusionlab.train [overrides]``: fit a fusion model and evaluate it on a suite.

Example: ``python -m fusionlab.train +experiment=ivif_zero_shot model/backbone=cnn loss.terms.ssim.weight=5``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from fusionlab import cli  # noqa: F401  (sets offline-safe environment defaults before heavy imports)
from fusionlab.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from fusionlab.engine.run import run_training

    def run() -> dict:
        # Resolve ${hydra:...} here, where Hydra is set: spawned DDP workers cannot resolve it.
        OmegaConf.resolve(cfg)
        return run_training(cfg)

    result = cli.run_cli(run)
    return result.get("objective") if isinstance(result, dict) else None  # what Optuna sweeps optimise


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()

"""Where the Hydra config tree lives, the resolvers it uses, and composition outside the CLI.

``conf/`` is found next to the source tree (a clone) or inside the installed package (a wheel
carries it as ``fusionlab/conf``), so the entry points work from any working directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def conf_dir() -> Path:
    """The config directory: ``$FUSIONLAB_CONF``, the repository's ``conf/``, or the packaged copy."""
    candidates = []
    if os.environ.get("FUSIONLAB_CONF"):
        candidates.append(Path(os.environ["FUSIONLAB_CONF"]))
    here = Path(__file__).resolve().parent
    candidates += [here.parents[1] / "conf", here / "conf"]
    for c in candidates:
        if (c / "train.yaml").is_file():
            return c
    raise FileNotFoundError(
        "fusionlab config tree not found (looked in " + ", ".join(map(str, candidates)) + "); "
        "reinstall the package or set FUSIONLAB_CONF to the conf/ folder"
    )


def wandb_offline() -> bool:
    """W&B runs offline unless the user opts in with WANDB_MODE=online (and a key)."""
    return os.environ.get("WANDB_MODE", "offline").lower() != "online"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("fl.wandb_offline"):
        OmegaConf.register_new_resolver("fl.wandb_offline", wandb_offline)


def compose(overrides: Sequence[str] = (), config_name: str = "train", output_dir: str | Path | None = None) -> DictConfig:
    """Compose the real config as the CLI would (for tests, notebooks and scripts).

    ``hydra:`` interpolations are resolved for this composition; ``output_dir`` sets ``paths.output_dir``.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if output_dir is not None:
        cfg.paths.output_dir = str(output_dir)
        OmegaConf.resolve(cfg)
    return cfg

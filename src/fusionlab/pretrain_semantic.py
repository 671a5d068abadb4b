"""``python -m fusionlab.pretrain_semantic paths.data_dir=DIR``: learn the semantic-entropy term's prior.

Trains the tiny semantic encoder on the IVIF training pairs with dense cross-modal InfoNCE, clusters its
features into prototypes and writes ``semantic_prior.pt`` in the run folder (:mod:`fusionlab.losses.semantic_prior`
says why). Use the file with ``loss.terms.frequency.low.semantic_entropy.weights=PATH`` (``+experiment=decc``).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from fusionlab import cli
from fusionlab.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="pretrain_semantic")
def _hydra_main(cfg: DictConfig) -> None:
    def run() -> dict:
        OmegaConf.resolve(cfg)
        return run_pretraining(cfg)

    cli.run_cli(run)


def run_pretraining(cfg: DictConfig) -> dict:
    """Pre-train, cluster, write the prior file; returns its path and the first and last losses."""
    import itertools
    import logging
    import time

    from fusionlab.engine.run import build_datamodule
    from fusionlab.errors import ConfigError
    from fusionlab.losses.semantic_prior import (
        collect_features,
        pretrain_encoder,
        save_prior,
        spherical_kmeans,
    )

    checks = {"lr": float(cfg.lr) > 0, "temperature": float(cfg.temperature) > 0,
              "samples": int(cfg.samples) >= 2, "prototypes": int(cfg.prototypes) >= 2,
              "kmeans_batches": int(cfg.kmeans_batches) >= 1}
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ConfigError(f"{bad[0]}={cfg[bad[0]]} is out of range: kmeans_batches >= 1; samples, "
                          "prototypes >= 2; lr, temperature > 0")
    log = logging.getLogger("fusionlab.pretrain_semantic")  # (steps: checked by pretrain_encoder)
    start = time.perf_counter()
    dm = build_datamodule(cfg)
    dm.setup("fit")

    def batches():  # endless training batches (each pass a fresh draw of patches)
        for _ in itertools.count():
            yield from dm.train_dataloader()

    stream = batches()
    encoder, losses = pretrain_encoder(stream, int(cfg.steps), float(cfg.lr), float(cfg.temperature),
                                       int(cfg.samples), int(cfg.seed), log=log.info)
    feats = collect_features(encoder, stream, int(cfg.kmeans_batches), seed=int(cfg.seed))
    prototypes = spherical_kmeans(feats, int(cfg.prototypes), seed=int(cfg.seed))
    head = max(1, len(losses) // 10)
    meta = {"sources": [str(s.source) for s in cfg.data.train], "data_mode": str(dm.mode),
            "steps": int(cfg.steps), "seed": int(cfg.seed),
            "loss_first": sum(losses[:head]) / head, "loss_last": sum(losses[-head:]) / head,
            "features_clustered": int(feats.shape[0])}
    path = save_prior(cfg.out, encoder, prototypes, meta)
    log.info(f"cross-modal InfoNCE {meta['loss_first']:.3f} -> {meta['loss_last']:.3f}; "
             f"{len(prototypes)} prototypes from {feats.shape[0]} features; wrote {path} "
             f"in {time.perf_counter() - start:.1f} s")
    return {"path": str(path), **meta}


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()

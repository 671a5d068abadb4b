"""``python -m fusionlab.export ckpt_path=PATH format=onnx|torchscript [out=FILE]``: ship a model outside Python.

ONNX has dynamic batch, height and width; the export is checked against PyTorch (within 1e-4) on a real image
pair (``check_a``/``check_b``, else the first found under ``paths.data_dir``; on a fresh clone without data, the
embedded synthetic pair of the model's task), and its input/output contract is written beside it
(``<file>.json`` and ``<file>.md``, which record the pair used).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fusionlab import cli
from fusionlab.config import conf_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="export")
def _hydra_main(cfg: DictConfig) -> None:
    from fusionlab.inference import run_export

    result = cli.run_cli(lambda: run_export(cfg))
    worst = max(c["max_abs_diff"] for c in result["checks"])
    on = "a real image" if result["checks"][0].get("source") == "real" else "the embedded synthetic pair (no real pair)"
    print(f"exported {result['path']} ({cfg.format}); max |{cfg.format} - PyTorch| = {worst:.2e} on {on}; "
          f"contract: {result['contract']}", flush=True)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()

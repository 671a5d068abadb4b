"""``python -m fusionlab.pretrained list | pack CKPT NAME --recipe CMD``: list or package shipped weights.

``pack`` turns a training checkpoint into ``src/fusionlab/pretrained/<name>.pt`` (model config + float32 evaluation
weights only, no optimiser state: a few hundred kB) and ``<name>.json`` with the recipe command and the metrics
the weights score on the shared recording pair (``tests/inference/test_pretrained.py`` reproduces them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf


def pack(ckpt: str, name: str, recipe: str, description: str, data_dir: str) -> Path:
    """Write ``<name>.pt`` and ``<name>.json`` beside this module from a fusionlab checkpoint."""
    from fusionlab.engine.checkpoints import load_evaluation_model
    from fusionlab.pretrained import RECORD_IMAGE, WEIGHTS_DIR, read_pair, score_model

    loaded = load_evaluation_model(ckpt)
    state = {k: v.detach().float().clone() for k, v in loaded.model.state_dict().items()}
    model_cfg = OmegaConf.to_container(loaded.model_config, resolve=True)
    target = WEIGHTS_DIR / f"{name}.pt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in state.items()},
                "fusionlab": {"model": model_cfg, "method_name": name, "eval_state_dict": state}}, target)
    a, b = read_pair(data_dir)
    params = sum(v.numel() for v in state.values())
    info = {"name": name, "description": description, "recipe": recipe, "parameters": params,
            "source_checkpoint": Path(ckpt).name, "record_image": "/".join(RECORD_IMAGE),
            "record_precision": "32 (float32, no autocast), fused image rounded to 8 bits",
            "metrics": score_model(loaded.model, a, b)}
    target.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fusionlab.pretrained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the shipped weights and what they are")
    p = sub.add_parser("pack", help="package a checkpoint as shipped weights")
    p.add_argument("ckpt")
    p.add_argument("name")
    p.add_argument("--recipe", required=True, help="the exact command that trained the checkpoint")
    p.add_argument("--description", default="")
    p.add_argument("--data-dir", default=os.environ.get("FUSIONLAB_DATA", "../shared/data"))
    args = parser.parse_args(argv)
    from fusionlab.pretrained import available, card

    if args.command == "list":
        for name in available():
            c = card(name)
            print(f"{name}: {c.get('description', '')} ({c.get('parameters', 0) / 1e6:.3f} M parameters)\n"
                  f"  recipe: {c.get('recipe', '')}")
        return
    path = pack(args.ckpt, args.name, args.recipe, args.description, args.data_dir)
    print(f"written: {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.with_suffix('.json').name}")


if __name__ == "__main__":
    sys.exit(main())

"""What does training add to the two-scale head? Each learned output switched off, scored on the ground truth.

    python experiments/head_ablation.py CKPT [CKPT ...] [--pairs 8] [--split test|val] [--seed 42]

The default head adds three learned outputs to its activity priors: base-blend logits (off in the default recipe,
``model.learn_base_blend=false``), detail-blend logits and a logit correction of the fused image. For each
checkpoint (a ``.ckpt`` path or a shipped ``pretrained`` name) this prints, per synthetic task, PSNR_gt (dB) and the
mean offset from the target (grey levels) of the model as trained and with the head's last layer zeroed for the detail logits, for the correction, and for every
learned output (the untrained priors). The synthetic pairs carry ground truth, so the table says which learned
output helps and which costs. ``--split test`` (default) reads the test suite (``--seed 42``: the suite every run is
scored on, ``data.options.synthetic.test_seed``); ``--split val`` the validation pairs. docs/quality.md reads it.
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fusionlab.data.sources import BuildRequest, get_source  # noqa: E402
from fusionlab.metrics import compute_reference_metrics, to_metric_range  # noqa: E402
from fusionlab.models.fusion_net import FusionNet  # noqa: E402

TASKS = ("synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff")
# channels of the two-scale head's last layer (Decoder.HEADS): base logits, detail logits, logit correction
SWITCHED_OFF = {"trained": (), "no_detail_logits": (2, 3), "no_correction": (4,), "priors_alone": (0, 1, 2, 3, 4)}


def without(model: FusionNet, channels: tuple[int, ...]) -> FusionNet:
    """A copy of ``model`` whose head outputs ``channels`` are exactly zero (weights and bias of the last layer)."""
    if model.decoder.head_mode != "two_scale":
        raise SystemExit(f"head_ablation reads the two-scale head (model.head=two_scale), got {model.decoder.head_mode!r}")
    out = copy.deepcopy(model).eval()
    last = out.decoder.head[-1]
    with torch.no_grad():
        for c in channels:
            last.weight[c].zero_()
            last.bias[c].zero_()
    return out


def task_psnr(models: dict[str, FusionNet], task: str, split: str, pairs: int,
              seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """({variant: mean PSNR_gt}, {variant: mean offset from the target in grey levels}) over the task's first
    ``pairs`` pairs of ``split`` (8-bit, as evaluation scores). At 40+ dB a global shift of one or two grey levels
    costs several dB, so the offset says whether a loss is a shift or a change of structure."""
    ds = get_source(task).build(BuildRequest(data_dir=None, split=split, seed=seed,
                                             options={"lengths": {split: pairs}}))
    sums, offsets = dict.fromkeys(models, 0.0), dict.fromkeys(models, 0.0)
    with torch.no_grad():
        for i in range(len(ds)):
            sample = ds[i]
            a, b, target = (sample[k][None].float() for k in ("a", "b", "target"))
            for name, model in models.items():
                fused, truth = to_metric_range(model(a, b).clamp(0, 1)), to_metric_range(target)
                values = compute_reference_metrics(fused, truth)
                sums[name] += float(values["PSNR_gt"].mean()) / len(ds)
                offsets[name] += float((fused - truth).mean()) / len(ds)
    return sums, offsets


def _load(spec: str) -> FusionNet:
    from fusionlab.inference.runner import load_model
    from fusionlab.pretrained import available, pretrained_path

    path = pretrained_path(spec) if spec in available() else Path(spec)
    if not path.is_file():
        raise SystemExit(f"error: {spec}: neither a checkpoint file nor a shipped pretrained name "
                         f"({', '.join(available())})")
    return load_model(path).model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per task (default 8, the suite's)")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--seed", type=int, default=42, help="the draw (default 42, the test suite's)")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        raise SystemExit(f"error: --pairs must be at least 1, got {args.pairs}")
    print(f"PSNR_gt (dB) on {args.pairs} synthetic {args.split} pairs per task (seed {args.seed}); in brackets the "
          "mean offset from the target (grey levels of 255)\n")
    print("| checkpoint | task | " + " | ".join(SWITCHED_OFF) + " |")
    print("|---|---|" + "---:|" * len(SWITCHED_OFF))
    for spec in args.checkpoints:
        model = _load(spec)
        variants = {name: without(model, chans) for name, chans in SWITCHED_OFF.items()}
        for task in TASKS:
            psnr, offset = task_psnr(variants, task, args.split, args.pairs, args.seed)
            cells = " | ".join(f"{psnr[n]:.2f} ({offset[n]:+.2f})" for n in SWITCHED_OFF)
            print(f"| {spec} | {task} | {cells} |", flush=True)


if __name__ == "__main__":
    main()

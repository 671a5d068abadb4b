"""What does IVIF training teach the base blend? The brighter source's share, prior alone against prior + learned.

    python experiments/base_brightness_cue.py CKPT [CKPT ...] --data-dir ../shared/data [--pairs 5]

The default head blends the sources' base layers (15×15 box means) with weights softmax(prior + learned logits),
the prior being "follow the more active source" on a wider window. For each checkpoint (a ``.ckpt`` path or a
shipped ``pretrained`` name) and dataset this prints the mean over the first ``--pairs`` test pairs of the base
weight given, pixel by pixel, to the *brighter* base (the one with the larger box mean): with the prior alone (the
head's logits dropped) and with the learned logits added. A rise means training taught "base follows the brighter
source", the cue that wins PET-MRI (hot spots are bright) and loses focus pairs (equal brightness, and the blurred
source's edges belong out of the base). docs/quality.md reads it.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.models.fusion_net import FusionNet


def brighter_base_share(model: FusionNet, a: Tensor, b: Tensor) -> tuple[float, float]:
    """(prior alone, prior + learned): mean base weight of the brighter base layer, for one (1, 1, H, W) pair."""
    dec = model.decoder
    if dec.head_mode != "two_scale" or not hasattr(dec, "base_prior"):
        raise ValueError("the model has no base blend prior (needs model.head=two_scale and model.base_prior > 0)")
    captured: dict[str, Tensor] = {}
    hook = dec.head.register_forward_hook(lambda _m, _i, out: captured.__setitem__("h", out.float()))
    try:
        with torch.no_grad():
            model(a, b)
            pa, _ = model._pad(a)
            pb, _ = model._pad(b)
            (la, lb), _, activity = dec.layers(pa, pb)
            prior = dec.base_prior_logits(pa, pb, activity)
            brighter_a = (la > lb).float()
            shares = []
            for logits in (prior, prior + captured["h"][:, 0:2]):
                w = logits.softmax(1)
                shares.append(float((w[:, :1] * brighter_a + w[:, 1:2] * (1 - brighter_a)).mean()))
    finally:
        hook.remove()
    return shares[0], shares[1]


def _load(spec: str) -> tuple[str, FusionNet]:
    from fusionlab.inference.runner import load_model
    from fusionlab.pretrained import available, pretrained_path

    path = pretrained_path(spec) if spec in available() else Path(spec)
    if not path.is_file():
        raise SystemExit(f"{spec}: neither a checkpoint file nor a shipped pretrained name ({', '.join(available())})")
    return spec, load_model(path).model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("FUSIONLAB_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("checkpoints", nargs="+", help=".ckpt paths or pretrained names (e.g. fusionnet_ivif)")
    parser.add_argument("--data-dir", default=default_data)
    parser.add_argument("--pairs", type=int, default=5, help="test pairs per dataset (the first ones)")
    parser.add_argument("--datasets", nargs="+", default=["msrs", "harvard/PET-MRI", "lytro"])
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error(f"--pairs must be >= 1, got {args.pairs}")
    warnings.simplefilter("ignore", UserWarning)
    models = [_load(c) for c in args.checkpoints]
    data = {d: get_source(d).build(BuildRequest(Path(args.data_dir), "test")) for d in args.datasets}
    print("Base weight of the brighter source (mean over pixels and pairs): prior alone -> prior + learned logits\n")
    print("| checkpoint | " + " | ".join(args.datasets) + " |")
    print("|---|" + "---:|" * len(args.datasets))
    for name, model in models:
        cells = []
        for ds in data.values():
            count = min(args.pairs, len(ds))
            pairs = [ds[i] for i in range(count)]
            shares = [brighter_base_share(model, s["a"][None], s["b"][None]) for s in pairs]
            prior, learned = (sum(x[k] for x in shares) / count for k in (0, 1))
            cells.append(f"{prior:.3f} -> {learned:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Can a frozen encoder's reading of the fused image steer fusion? Each candidate quantity scored on real outputs.

    python experiments/semantic_quantities.py --data-dir ../shared/data [--pairs 8] [--datasets msrs lytro harvard/PET-MRI]

A loss term can only steer fusion towards good outputs if its value separates good fusions from bad ones. For the
sources themselves, plain averaging and the classical rules, on the low band the DECC design feeds its semantic
term (Gaussian split, sigma 2), this prints per dataset and per prior (fusionlab's learned ``msrs_tiny`` and the
seeded random encoder) the mean over test pairs of (lower is "better" for every column):

* ``entropy``: the DECC term as built (``SemanticEntropyLoss``): prototype-posterior entropy / log K;
* ``kl_agree``: KL(q || p_F) / log K, q = the sources' posteriors mixed by their confidence (1 - entropy);
* ``cos_conf``: 1 - cos(z_F, z_S) per location, sources weighted by that confidence;
* ``cos_worst``: the larger of 1 - cos(z_F, z_A) and 1 - cos(z_F, z_B): penalises dropping either source.

A quantity fit to steer should score the rules that win the fusion metrics (GFF, Laplacian) below the sources.
The conclusions drawn from it are in experiments/README.md (DECC's semantic path).
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from fusionlab.baselines import build_baseline
from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.losses import SemanticEntropyLoss
from fusionlab.losses.frequency import split_bands

RULES = ("average", "max", "laplacian", "gff")
COLUMNS = ("entropy", "kl_agree", "cos_conf", "cos_worst")


def _low(x: torch.Tensor) -> torch.Tensor:
    return split_bands(x, "gaussian", 2.0, 0.1)[0]


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(1e-12).log()).sum(1, keepdim=True)


def quantities(term: SemanticEntropyLoss, a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> dict[str, float]:
    """The four quantities of F against its sources (all on the low band)."""
    la, lb, lf = _low(a), _low(b), _low(f)
    pa, pb, pf = term.posterior(la), term.posterior(lb), term.posterior(lf)
    log_k = math.log(pf.shape[1])
    ca, cb = 1 - _entropy(pa) / log_k, 1 - _entropy(pb) / log_k
    wa = (ca + 1e-6) / (ca + cb + 2e-6)
    q = wa * pa + (1 - wa) * pb
    kl = (q * (q.clamp_min(1e-12).log() - pf.clamp_min(1e-12).log())).sum(1, keepdim=True)
    za, zb, zf = (F.normalize(term.encoder(x), dim=1) for x in (la, lb, lf))
    da, db = 1 - (zf * za).sum(1, keepdim=True), 1 - (zf * zb).sum(1, keepdim=True)
    return {
        "entropy": float(term.compute(lf, {})),
        "kl_agree": float(kl.mean() / log_k),
        "cos_conf": float((wa * da + (1 - wa) * db).mean()),
        "cos_worst": float(torch.maximum(da, db).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("FUSIONLAB_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--data-dir", default=default_data)
    parser.add_argument("--pairs", type=int, default=8, help="test pairs per dataset (the first ones)")
    parser.add_argument("--datasets", nargs="+", default=["msrs", "lytro", "harvard/PET-MRI"])
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error(f"--pairs must be >= 1, got {args.pairs}")
    warnings.simplefilter("ignore", UserWarning)
    torch.manual_seed(0)
    priors = {"learned (msrs_tiny)": SemanticEntropyLoss(pretrained="msrs_tiny"), "random": SemanticEntropyLoss()}
    rules = {name: build_baseline(name).eval() for name in RULES}
    for dataset in args.datasets:
        data = get_source(dataset).build(BuildRequest(Path(args.data_dir), "test"))
        count = min(args.pairs, len(data))
        for label, term in priors.items():
            term.eval()
            sums: dict[str, dict[str, float]] = {}
            with torch.no_grad():
                for i in range(count):
                    sample = data[i]
                    a, b = sample["a"][None].float(), sample["b"][None].float()
                    outputs = {"source a": a, "source b": b, **{n: r(a, b).clamp(0, 1) for n, r in rules.items()}}
                    for name, f in outputs.items():
                        row = sums.setdefault(name, dict.fromkeys(COLUMNS, 0.0))
                        for k, v in quantities(term, a, b, f).items():
                            row[k] += v / count
            print(f"\n{dataset}, {count} test pair(s), prior: {label}\n")
            print("| output | " + " | ".join(COLUMNS) + " |")
            print("|---|" + "---:|" * len(COLUMNS))
            for name, row in sums.items():
                print(f"| {name} | " + " | ".join(f"{row[k]:.4f}" for k in COLUMNS) + " |")


if __name__ == "__main__":
    main()

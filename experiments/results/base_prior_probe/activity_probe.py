"""Ad hoc probe: two ways of making the base prior ignore thin structures, against the in-range two-band default.

    python experiments/results/base_prior_probe/activity_probe.py psnr|val|test [--datasets m3fd,...]

``psnr``: PSNR_gt on the synthetic validation pairs; ``val``: val/quality on the validation sets; ``test``: win
counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). Untrained priors, no network. Variants:
``in_range`` (the default recipe: two bands, base kept in the base layers' range), ``floor_1e-4`` / ``floor_3e-4``
(a floor under the activity the base prior compares) and ``log_mean`` (the base prior compares the window mean of
log activity, which a thin line moves little). docs/quality.md (*The base blend kept in range*) reads the result.
"""
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import base_prior_probe as P

from fusionlab.baselines import build_baseline
from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.metrics import compute_reference_metrics, to_metric_range
from fusionlab.models.fusion_net import box_mean, clipped_box_mean


def priors(a, b, floor=0.0, log_mean=False, coarse=64, radius=7, bp=20.0, dp=20.0):
    la, da, ea = P._layers(a, radius)
    lb, db, eb = P._layers(b, radius)
    act = torch.cat((ea, eb), 1)
    if log_mean:
        wb = (0.5 * bp * box_mean(torch.log(act + 1e-6), 3 * radius)).softmax(1)
    else:
        wb = P._follow(bp, box_mean(act, 3 * radius) + floor)
    wd = P._follow(dp, act)
    s = clipped_box_mean(wb, coarse) - wb
    layer = wb[:, :1] * la + wb[:, 1:] * lb + s[:, :1] * clipped_box_mean(la, coarse) + s[:, 1:] * clipped_box_mean(lb, coarse)
    layer = layer.clamp(torch.minimum(la, lb), torch.maximum(la, lb))
    return (layer + wd[:, :1] * da + wd[:, 1:] * db).clamp(1e-3, 1 - 1e-3)


V = {
    "in_range": lambda a, b: priors(a, b),
    "floor_1e-4": lambda a, b: priors(a, b, floor=1e-4),
    "floor_3e-4": lambda a, b: priors(a, b, floor=3e-4),
    "log_mean": lambda a, b: priors(a, b, log_mean=True),
}
P.VARIANTS.clear()
P.VARIANTS.update(V)
mode = sys.argv[1]
data = Path(os.environ.get("FUSIONLAB_DATA", "../shared/data"))
if mode == "psnr":
    names = [*V, "average", "max", "gff"]
    print("| task | " + " | ".join(names) + " |")
    for task in ("synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"):
        ds = get_source(task).build(BuildRequest(data_dir=None, split="val"))
        s = dict.fromkeys(names, 0.0)
        with torch.no_grad():
            for i in range(len(ds)):
                smp = ds[i]
                a, b, t = (smp[k][None].float() for k in ("a", "b", "target"))
                for n in names:
                    f = V[n](a, b) if n in V else build_baseline(n)(a, b)
                    s[n] += float(compute_reference_metrics(to_metric_range(f.clamp(0, 1)), to_metric_range(t))["PSNR_gt"].mean()) / len(ds)
        print(f"| {task} | " + " | ".join(f"{s[n]:.2f}" for n in names) + " |", flush=True)
elif mode == "val":
    for n, s in P.validation_quality(data).items():
        print(n, f"{s['mean']:.4f}", " ".join(f"{k}={s[k]:.3f}" for k in P.VALIDATION), flush=True)
else:
    sys.argv = ["x", "--data-dir", str(data)] + sys.argv[2:]
    P.main()

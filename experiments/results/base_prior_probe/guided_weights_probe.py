"""Ad hoc probe: GFF's guided-filter refinement of the base weights against the two-band default, untrained.

    python experiments/results/base_prior_probe/guided_weights_probe.py psnr|val|test

``psnr``: PSNR_gt on the synthetic validation pairs
``val``: val/quality on the validation sets
``test``: win
counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). docs/quality.md reads the result.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import base_prior_probe as P
from base_prior_probe import run_ad_hoc

from fusionlab.baselines.gff import guided_filter
from fusionlab.models.fusion_net import box_mean, clipped_box_mean


def priors(a, b, coarse=0, guide_base=None, guide_detail=None, radius=7, bp=20.0, dp=20.0):
    la, da, ea = P._layers(a, radius)
    lb, db, eb = P._layers(b, radius)
    act = torch.cat((ea, eb), 1)
    wb = P._follow(bp, box_mean(act, 3 * radius))
    wd = P._follow(dp, act)
    src = torch.cat((a, b), 1).double()
    if guide_base:
        r, eps = guide_base
        g = guided_filter(src, wb.double(), r, eps).clamp_min(1e-6)
        wb = (g / g.sum(1, keepdim=True)).float()
    if guide_detail:
        r, eps = guide_detail
        g = guided_filter(src, wd.double(), r, eps).clamp_min(1e-6)
        wd = (g / g.sum(1, keepdim=True)).float()
    f = wb[:, :1] * la + wb[:, 1:] * lb + wd[:, :1] * da + wd[:, 1:] * db
    if coarse:
        s = clipped_box_mean(wb, coarse) - wb
        f = f + s[:, :1] * clipped_box_mean(la, coarse) + s[:, 1:] * clipped_box_mean(lb, coarse)
    return f.clamp(1e-3, 1 - 1e-3)

V = {
 "one_band": lambda a, b: priors(a, b),
 "coarse64": lambda a, b: priors(a, b, coarse=64),
 "gbase45": lambda a, b: priors(a, b, guide_base=(45, 0.3)),
 "gbase45_coarse64": lambda a, b: priors(a, b, coarse=64, guide_base=(45, 0.3)),
 "gbase45_gdet7": lambda a, b: priors(a, b, guide_base=(45, 0.3), guide_detail=(7, 1e-6)),
 "gbase45e01": lambda a, b: priors(a, b, guide_base=(45, 0.01)),
}
run_ad_hoc(V, sys.argv[1:])

"""Ad hoc probe: how wide should the window be that measures each source's detail activity for the detail blend?

    python experiments/results/base_prior_probe/detail_window_probe.py psnr|val|test [--pairs 64] [--datasets ...]

``psnr``: PSNR_gt on the synthetic validation pairs (``--pairs N`` per task); ``val``: val/quality on the validation
sets; ``test``: win counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). Untrained priors, no
network. ``default`` is the default recipe (two bands, coarse radius 128, in range, base weights at radius 7), whose
detail blend compares the detail layers' energy over the base layer's own 15×15 box (radius 7 = ``base_radius``);
``detail_rN`` measures it over a box of radius N instead, everything else (the base layers, the base prior's
activity) unchanged. docs/quality.md (*Where it still falls short*) reads the result.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import _follow, _layers, box_mean, run_ad_hoc

from fusionlab.baselines._filters import box_mean as clipped_box_mean

COARSE, RADIUS, WEIGHT_RADIUS, PRIOR = 128, 7, 7, 20.0
WINDOWS = (2, 3, 4, 5, 10)


def detail_window(window: int):
    """The default two-band head with the detail blend's activity measured over a box of radius ``window``."""
    def fuse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        la, da, ea = _layers(a, RADIUS)
        lb, db, eb = _layers(b, RADIUS)
        activity = torch.cat((ea, eb), 1)
        wb = _follow(PRIOR, box_mean(activity, 3 * RADIUS))
        detail_activity = torch.cat((box_mean(da * da, window), box_mean(db * db, window)), 1)
        wd = _follow(PRIOR, detail_activity)
        wl = clipped_box_mean(wb, WEIGHT_RADIUS)
        smooth = clipped_box_mean(wb, COARSE) - wl
        layer = (wl[:, :1] * la + wl[:, 1:] * lb + smooth[:, :1] * clipped_box_mean(la, COARSE)
                 + smooth[:, 1:] * clipped_box_mean(lb, COARSE))
        layer = layer.clamp(torch.minimum(la, lb), torch.maximum(la, lb))
        return (layer + wd[:, :1] * da + wd[:, 1:] * db).clamp(1e-3, 1 - 1e-3)
    return fuse


if __name__ == "__main__":
    run_ad_hoc({"default": detail_window(RADIUS), **{f"detail_r{w}": detail_window(w) for w in WINDOWS}},
               sys.argv[1:])

"""Ad hoc probe: would a brightness cue in the coarse band meet the synthetic IVIF check, and what does it cost?

    python experiments/results/base_prior_probe/coarse_brightness_probe.py psnr|val|test [--pairs 64] [--datasets roadscene,...]

``psnr``: PSNR_gt on the synthetic validation pairs (``--pairs N`` per task); ``val``: val/quality on the validation
sets; ``test``: win counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). Untrained priors, no
network. ``default`` is the default recipe (two bands, coarse radius 128, in range, base weights at radius 7);
``bright_M`` gives a share M of the coarse band's weight to the source whose coarse mean (box of radius 128) is the
brighter one at that pixel, the rest to the activity prior's smoothed weights as in the default:

    coarse weights = (1 - M) * box128(w_base) + M * [box128(L_a) >= box128(L_b), box128(L_a) < box128(L_b)]

The synthetic IVIF ground truth is the well-lit scene, brighter than both sources (``synthetic_brightness.py``), and
the max rule leads there; this is the smallest change that lets the blend follow brightness where the rest of the
image is set: the fine and middle bands still follow the more active source. docs/quality.md (*A brightness cue
in the coarse band*) reads the result.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import _follow, _layers, box_mean, run_ad_hoc

from fusionlab.baselines._filters import box_mean as clipped_box_mean

COARSE, RADIUS, WEIGHT_RADIUS, PRIOR = 128, 7, 7, 20.0
SHARES = (0.1, 0.2, 0.3, 0.4, 0.5)


def coarse_brightness(share: float):
    """The default two-band head with ``share`` of the coarse band following the brighter source."""
    def fuse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        la, da, ea = _layers(a, RADIUS)
        lb, db, eb = _layers(b, RADIUS)
        activity = torch.cat((ea, eb), 1)
        wb, wd = _follow(PRIOR, box_mean(activity, 3 * RADIUS)), _follow(PRIOR, activity)
        wl = clipped_box_mean(wb, WEIGHT_RADIUS)
        ca, cb = clipped_box_mean(la, COARSE), clipped_box_mean(lb, COARSE)
        brighter = (ca >= cb).float()
        wc = (1 - share) * clipped_box_mean(wb, COARSE) + share * torch.cat((brighter, 1 - brighter), 1)
        layer = wl[:, :1] * la + wl[:, 1:] * lb + (wc - wl)[:, :1] * ca + (wc - wl)[:, 1:] * cb
        layer = layer.clamp(torch.minimum(la, lb), torch.maximum(la, lb))
        return (layer + wd[:, :1] * da + wd[:, 1:] * db).clamp(1e-3, 1 - 1e-3)
    return fuse


if __name__ == "__main__":
    run_ad_hoc({"default": coarse_brightness(0.0), **{f"bright_{m}": coarse_brightness(m) for m in SHARES}},
               sys.argv[1:])

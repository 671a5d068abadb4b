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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import run_ad_hoc, two_scale_priors

SHARES = (0.1, 0.2, 0.3, 0.4, 0.5)


def coarse_brightness(share: float):
    """The default two-band head with ``share`` of the coarse band following the brighter source."""
    return lambda a, b: two_scale_priors(a, b, coarse_radius=128, in_range=True, weight_radius=7,
                                         coarse_bright=share)


if __name__ == "__main__":
    run_ad_hoc({"default": coarse_brightness(0.0), **{f"bright_{m}": coarse_brightness(m) for m in SHARES}},
               sys.argv[1:])

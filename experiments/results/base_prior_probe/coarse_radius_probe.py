"""Ad hoc probe: how wide should the base blend's coarse band be? Radii 24 to 4096 (wider than any image: one
brightness blend per image), each with the in-range bound and the base weights averaged over the base box.

    python experiments/results/base_prior_probe/coarse_radius_probe.py psnr|val|test [--datasets m3fd,...]

``psnr``: PSNR_gt on the synthetic validation pairs (128 px, ground truth known); ``val``: val/quality on the
validation sets; ``test``: win counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). Untrained
priors, no network. docs/quality.md (*A coarse band as wide as the validation images*) reads the result: the ground
truth improves up to radius 128 and cannot tell wider radii apart on 128-px pairs, so the default took 128.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import run_ad_hoc, two_scale_priors


def coarse(radius):
    return lambda a, b: two_scale_priors(a, b, coarse_radius=radius, in_range=True, weight_radius=7)


run_ad_hoc({f"coarse_{r}": coarse(r) for r in (24, 32, 48, 64, 96, 128, 192, 4096)}, sys.argv[1:])

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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import run_ad_hoc, two_scale_priors

WINDOWS = (2, 3, 4, 5, 10)


def detail_window(window: int):
    """The default two-band head with the detail blend's activity measured over a box of radius ``window``."""
    return lambda a, b: two_scale_priors(a, b, coarse_radius=128, in_range=True, weight_radius=7,
                                         detail_radius=window)


if __name__ == "__main__":
    run_ad_hoc({"default": detail_window(7), **{f"detail_r{w}": detail_window(w) for w in WINDOWS}}, sys.argv[1:])

"""Ad hoc probe: two ways of making the base prior ignore thin structures, against the in-range two-band default.

    python experiments/results/base_prior_probe/activity_probe.py psnr|val|test [--datasets m3fd,...]

``psnr``: PSNR_gt on the synthetic validation pairs; ``val``: val/quality on the validation sets; ``test``: win
counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). Untrained priors, no network. Variants:
``in_range`` (the default recipe: two bands, base kept in the base layers' range), ``floor_1e-4`` / ``floor_3e-4``
(a floor under the activity the base prior compares, ``model.base_prior_floor``) and ``log_mean`` (the base prior
compares the window's geometric mean of activity, which a thin line moves little). docs/quality.md (*The base blend
kept in range*) reads the result.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import run_ad_hoc, two_scale_priors


def in_range(a, b, **kw):
    return two_scale_priors(a, b, coarse_radius=64, in_range=True, **kw)


run_ad_hoc({
    "in_range": in_range,
    "floor_1e-4": lambda a, b: in_range(a, b, base_floor=1e-4),
    "floor_3e-4": lambda a, b: in_range(a, b, base_floor=3e-4),
    "log_mean": lambda a, b: in_range(a, b, base_energy="detail_geomean"),
}, sys.argv[1:])

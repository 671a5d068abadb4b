"""Ad hoc probe: does the opt-in exposure gate still help with the default's wide coarse band?

    python experiments/results/base_prior_probe/exposure_gate_probe.py psnr|val|test [--pairs 64] [--datasets mef,...]

``psnr``: PSNR_gt on the synthetic validation pairs (``--pairs N`` per task); ``val``: val/quality on the validation
sets; ``test``: win counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). Untrained priors, no
network. Variants: ``default_128`` (the default recipe: two bands, coarse radius 128, in range, base weights at
radius 7) and ``exposure_gate_128`` (the same with ``model.exposure_gate=true``: the base prior is turned off in
proportion to :func:`fusionlab.models.fusion_net.exposure_bracket`, as the model does, so on an exposure bracket
the bases are averaged).
The gate was built when the base blend had one band, where it met the synthetic MEF check; docs/quality.md (*The
exposure gate (opt-in)*) reads what it does now.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import run_ad_hoc, two_scale_priors

from fusionlab.models.fusion_net import exposure_bracket


def default(a, b):
    return two_scale_priors(a, b, coarse_radius=128, in_range=True, weight_radius=7)


def gated(a, b):
    # the model multiplies the base prior's logits by (1 - gate): the prior's scale, 20, times (1 - gate)
    gate = float(exposure_bracket(a, b).flatten()[0])  # one pair per call
    return two_scale_priors(a, b, base_prior=20.0 * (1 - gate), coarse_radius=128, in_range=True, weight_radius=7)


run_ad_hoc({"default_128": default, "exposure_gate_128": gated}, sys.argv[1:])

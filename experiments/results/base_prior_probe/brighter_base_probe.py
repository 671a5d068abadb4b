"""Ad hoc probe: how close can a two-scale blend come to the synthetic MIF target, max(MRI, CT/PET luminance)?

    python experiments/results/base_prior_probe/brighter_base_probe.py psnr|val|test [--pairs 64] [--datasets ...]

``psnr``: PSNR_gt on the synthetic validation pairs (``--pairs N`` per task); ``val``: val/quality on the validation
sets; ``test``: win counts on the test pairs of $FUSIONLAB_DATA (default ../shared/data). No network. Two rules that
follow brightness as far as a two-scale split allows, both on the head's base layers (box radius 7):

* ``brighter_base``: the base is the brighter of the two base layers at each pixel, the details still follow the
  more active source (the head's detail prior);
* ``brighter_pixel``: each pixel, base and detail, comes from the source whose base layer is brighter there.

The max rule reproduces the MIF target up to the sources' noise; these rules show what is left when the choice of
source is made at the base layer's scale, as the head makes it. docs/quality.md (*Where it still falls short*)
reads the result.
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from base_prior_probe import _follow, _layers, run_ad_hoc

RADIUS, PRIOR = 7, 20.0


def brighter_base(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    la, da, ea = _layers(a, RADIUS)
    lb, db, eb = _layers(b, RADIUS)
    wd = _follow(PRIOR, torch.cat((ea, eb), 1))
    return (torch.maximum(la, lb) + wd[:, :1] * da + wd[:, 1:] * db).clamp(1e-3, 1 - 1e-3)


def brighter_pixel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    la, da, _ = _layers(a, RADIUS)
    lb, db, _ = _layers(b, RADIUS)
    pick_a = (la >= lb).float()
    return (pick_a * (la + da) + (1 - pick_a) * (lb + db)).clamp(1e-3, 1 - 1e-3)


if __name__ == "__main__":
    run_ad_hoc({"brighter_base": brighter_base, "brighter_pixel": brighter_pixel}, sys.argv[1:])

"""Mertens exposure fusion: colour from the sources' chroma, the paper's weights, and its place on MEF/MFF pairs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fusionlab.baselines import build_baseline
from fusionlab.baselines.mertens import MertensFusion
from fusionlab.color import rgb_to_ycbcr
from fusionlab.data.io import read_image
from fusionlab.metrics import compute_metrics, to_metric_range


def _rgb(seed: int, h: int = 48, w: int = 56) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(1, 3, h + 4, w + 4, generator=g), 5, 1)


def _split(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ycc = rgb_to_ycbcr(rgb)
    return ycc[:, :1], ycc[:, 1:]


def _load(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    rgb = torch.from_numpy(np.ascontiguousarray(read_image(path)[..., :3])).permute(2, 0, 1).unsqueeze(0)
    return _split(rgb.float())


def test_paper_weights_not_opencv_defaults() -> None:
    assert MertensFusion().weights == (1.0, 1.0, 1.0)
    assert cv2.createMergeMertens().getExposureWeight() == 0.0  # why the weights are passed explicitly


def test_reference_row_for_exposure_and_focus_tasks() -> None:
    """The evaluation skips a method with ``tasks`` on other tasks' datasets: Mertens rows only for MEF and MFF."""
    assert build_baseline("mertens").tasks == ("mef", "mff")


def test_colour_fixed_point_and_luminance_output() -> None:
    y, c = _split(_rgb(0))
    out = MertensFusion()(y, y, c, c)
    assert out.shape == y.shape
    torch.testing.assert_close(out, y, rtol=0, atol=1e-5)


def test_colour_changes_the_weights() -> None:
    """Saturation only exists in colour: a vivid and a grey version of one scene are not blended alike."""
    rgb = _rgb(1)
    grey = rgb.mean(dim=1, keepdim=True).expand_as(rgb)
    (ya, ca), (yb, cb) = _split(rgb), _split(grey)
    model = MertensFusion()
    assert not torch.allclose(model(ya, yb, ca, cb), model(ya, yb), atol=1e-3)
    with pytest.raises(ValueError, match="chroma must be"):
        model(ya, yb, ca[:, :1], cb)


def test_opencv_reads_rgb_order() -> None:
    """MergeMertens' contrast uses RGB->gray (R weighted 0.299): a texture in R outweighs the same one in B."""
    t = _rgb(2)[:, :1].squeeze().numpy() * 200 + 20
    c = np.full_like(t, 120.0)
    red, blue = np.stack([t, c, c], -1), np.stack([c, c, t], -1)
    fused = cv2.createMergeMertens(1.0, 0.0, 0.0).process([red, blue])
    assert fused[..., 0].std() > 2 * fused[..., 2].std()


def test_beats_average_on_real_exposure_and_focus_pairs(data_dir: Path) -> None:
    cases = [("mef/input/Arno/Arno_A.png", "mef/input/Arno/Arno_B.png", "MEF_SSIM"),
             ("lytro/lytro-01-A.jpg", "lytro/lytro-01-B.jpg", "Qabf")]
    for rel_a, rel_b, metric in cases:
        (ya, ca), (yb, cb) = _load(data_dir / rel_a), _load(data_dir / rel_b)
        scores = {}
        for name, fused in (("average", build_baseline("average")(ya, yb)),
                            ("mertens", MertensFusion()(ya, yb, ca, cb)), ("mertens_gray", MertensFusion()(ya, yb))):
            f, a, b = (to_metric_range(x) for x in (fused, ya, yb))
            scores[name] = compute_metrics(f, a, b, [metric])[metric].item()
        assert scores["mertens"] > scores["average"] and scores["mertens_gray"] > scores["average"], (rel_a, scores)

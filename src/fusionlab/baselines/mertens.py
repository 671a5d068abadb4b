"""Mertens exposure fusion (Mertens, Kautz, Van Reeth, Pacific Graphics 2007), the classical MEF reference row.

Per pixel, each source is weighted by contrast (|Laplacian| of its gray image) x saturation (std of R, G, B)
x well-exposedness (Gaussian of each channel around 0.5, sigma 0.2), each to the power 1 as in the paper; the
normalised weights blend the sources' Laplacian pyramids (Burt-Adelson multi-resolution blending), which avoids
the seams of a per-pixel blend. The merge itself is OpenCV's ``MergeMertens`` (float32). Two settings differ
from OpenCV's defaults or documentation, both measured:

* OpenCV's default ``exposure_weight`` is 0; the paper (and this baseline) uses 1.
* ``MergeMertens`` converts colour to gray with RGB channel order (R weighted 0.299): sources are given as RGB.

Colour: MEF and MFF sources are usually both colour. The model contract gives a baseline luminance ``a``, ``b``;
called with the sources' chroma (``cbcr_a``, ``cbcr_b``, as the data pipeline yields them, see
:mod:`fusionlab.color`) the merge runs on the RGB images, which is where saturation means something. The output
is, like every method's, luminance: the BT.601 luma of the fused RGB clipped to [0, 1] (what a saved image holds);
fused colour is then restored by the project's one colour policy. Without both chromas (gray data, IVIF, MIF)
the merge runs on luminance: saturation drops out (OpenCV ignores it for one channel), contrast and
well-exposedness remain, which makes it a usable multi-focus rule too (contrast dominates when the exposures match).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from fusionlab.baselines.base import ClassicalFusion
from fusionlab.color import luminance, ycbcr_to_rgb
from fusionlab.errors import ConfigError


class MertensFusion(ClassicalFusion):
    """Mertens exposure fusion via ``cv2.createMergeMertens`` with the paper's weights (1, 1, 1)."""

    name = "mertens"
    tasks = ("mef", "mff")
    """Evaluated only on exposure and focus stacks: its weights (saturation, well-exposedness) assume two
    renderings of one scene, not two modalities."""
    uses_chroma = True
    """Tells the evaluation code to pass ``cbcr_a``/``cbcr_b`` (``(B, 2, H, W)``) when the sources have them."""

    def __init__(self, contrast: float = 1.0, saturation: float = 1.0, exposure: float = 1.0) -> None:
        super().__init__()
        self.weights = (float(contrast), float(saturation), float(exposure))

    def forward(
        self, a: Tensor, b: Tensor, cbcr_a: Tensor | None = None, cbcr_b: Tensor | None = None
    ) -> Tensor:
        """Fuse luminance ``a``, ``b`` (``(B, 1, H, W)`` in [0, 1]); in colour when both chromas are given."""
        if cbcr_a is None or cbcr_b is None:
            return super().forward(a, b)
        expected = (a.shape[0], 2, *a.shape[-2:])
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 1:
            return super().forward(a, b)  # raises the base class's error for a malformed pair
        if tuple(cbcr_a.shape) != expected or tuple(cbcr_b.shape) != expected:
            raise ConfigError(
                f"chroma must be (B, 2, H, W) = {expected}, got {tuple(cbcr_a.shape)} and {tuple(cbcr_b.shape)}"
            )
        rgb = [ycbcr_to_rgb(torch.cat([y, c.to(y)], dim=1)) for y, c in ((a, cbcr_a), (b, cbcr_b))]
        fused = luminance(self._merge(rgb).clamp(0.0, 1.0))
        return fused.clamp(0.0, 1.0).to(a.dtype)

    def fuse(self, a: Tensor, b: Tensor) -> Tensor:
        return self._merge([a, b])

    def _merge(self, sources: list[Tensor]) -> Tensor:
        """``MergeMertens.process`` per batch item on ``(B, C, H, W)`` images in [0, 1] (C = 1 gray, 3 RGB)."""
        merge = cv2.createMergeMertens(*self.weights)
        out = []
        for i in range(sources[0].shape[0]):
            # OpenCV divides by 255 internally: give it 0..255 floats, get the result back on 0..1.
            images = [np.ascontiguousarray(s[i].detach().float().cpu().permute(1, 2, 0).numpy() * 255.0) for s in sources]
            fused = merge.process([im[..., 0] if im.shape[-1] == 1 else im for im in images])
            fused = torch.from_numpy(np.asarray(fused, dtype=np.float32))
            out.append(fused.unsqueeze(0) if fused.ndim == 2 else fused.permute(2, 0, 1))
        return torch.stack(out).to(device=sources[0].device, dtype=sources[0].dtype)

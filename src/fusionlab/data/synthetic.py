"""The embedded default data: a deterministic procedural generator for all four fusion tasks.

Nothing is downloaded. Natural texture comes from the images scikit-image ships inside its wheel,
randomly cropped, flipped and mixed with procedural structure (shapes, value noise). Every sample is
rendered from a latent scene, so each carries a ground truth ``target`` as well as its two sources:

* **ivif** - the latent scene is a well-lit textured image plus warm targets. ``a`` (infrared) shows a
  smooth thermal background and bright targets; ``b`` (visible, colour) shows the texture at low light
  with noise and barely-visible targets. target = the well-lit texture with the targets' heat on top.
* **mif** - an anatomical phantom (skull, tissue, ventricles, lesions). ``a`` is MRI-like (soft-tissue
  contrast, dark bone); ``b`` is CT-like (bright bone, flat tissue) or PET/SPECT-like (blurred
  functional hot spots in pseudo-colour, i.e. with chroma). target = max(MRI, CT/PET luminance).
* **mef** - one radiance map seen through a gamma camera response with clipping at two exposures:
  ``a`` under-exposed, ``b`` over-exposed (``a <= b`` everywhere). target = a global tone map of the
  radiance through the same response.
* **mff** - one sharp colour image defocused by a Gaussian in complementary regions of a smooth mask:
  ``a`` is sharp where the mask is 1 (near focus), ``b`` where it is 0. target = the sharp image.

Samples follow the batch contract (DESIGN §2): ``a``/``b`` luminance ``1xHxW`` in [0, 1], optional
``cbcr_a``/``cbcr_b``, ``target``, ``name``, ``task``, ``dataset``.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from fusionlab import TASKS
from fusionlab.color import rgb_to_ycbcr

_GRAY_TEXTURES = ("camera", "coins", "moon", "grass", "gravel", "brick", "clock")
_COLOR_TEXTURES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


@functools.cache
def _texture_bank() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """scikit-image's bundled images as float32 in [0, 1] (loaded once per process)."""
    import skimage.data as skd

    gray = [getattr(skd, n)().astype(np.float32) / 255.0 for n in _GRAY_TEXTURES]
    color = [getattr(skd, n)()[..., :3].astype(np.float32) / 255.0 for n in _COLOR_TEXTURES]
    return gray, color


def _crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random crop (upsampled first when the image is smaller than ``size``), flip and rot90."""
    h, w = img.shape[:2]
    if min(h, w) < size:
        zoom = size / min(h, w) + 1e-3
        img = ndimage.zoom(img, (zoom, zoom) + (1,) * (img.ndim - 2), order=1)
        h, w = img.shape[:2]
    scale = rng.uniform(1.0, min(h, w) / size) if min(h, w) > size else 1.0
    side = int(size * scale)
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    patch = img[y : y + side, x : x + side]
    if side != size:
        patch = ndimage.zoom(patch, (size / side, size / side) + (1,) * (img.ndim - 2), order=1)[:size, :size]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    patch = np.rot90(patch, int(rng.integers(0, 4)))
    return np.ascontiguousarray(patch, dtype=np.float32)


def _value_noise(size: int, rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    """Smooth fractal noise in [0, 1]: Gaussian-filtered white noise summed over octaves."""
    out = np.zeros((size, size), np.float32)
    for o in range(octaves):
        sigma = size / (4 * 2**o)
        layer = ndimage.gaussian_filter(rng.standard_normal((size, size)).astype(np.float32), sigma, mode="wrap")
        out += layer / (layer.std() + 1e-8) / 2**o
    out -= out.min()
    return out / (out.max() + 1e-8)


def _blobs(size: int, rng: np.random.Generator, count: int, radius: tuple[float, float]) -> np.ndarray:
    """A soft mask of ``count`` random ellipses (targets, lesions, hot spots)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    for _ in range(count):
        cy, cx = rng.uniform(0.15, 0.85, 2) * size
        ry, rx = rng.uniform(*radius, 2) * size
        theta = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
        mask = np.maximum(mask, (u * u + v * v <= 1.0).astype(np.float32))
    return ndimage.gaussian_filter(mask, 1.0)


def _scene(size: int, rng: np.random.Generator, color: bool) -> np.ndarray:
    """A natural-looking texture: a bundled photo crop mixed with procedural noise and shapes."""
    gray_bank, color_bank = _texture_bank()
    if color:
        base = _crop(color_bank[int(rng.integers(len(color_bank)))], size, rng)
    else:
        base = _crop(gray_bank[int(rng.integers(len(gray_bank)))], size, rng)
    noise = _value_noise(size, rng)
    shapes = _blobs(size, rng, int(rng.integers(2, 6)), (0.05, 0.2)) * rng.uniform(-0.3, 0.3)
    mix = 0.75 * base + (0.25 * noise + shapes)[..., None] if color else 0.75 * base + 0.25 * noise + shapes
    return np.clip(mix, 0.0, 1.0).astype(np.float32)


def _pseudo_color(x: np.ndarray) -> np.ndarray:
    """A 'hot'/jet-like colour map for PET/SPECT renderings (RGB in [0, 1])."""
    r = np.clip(1.5 * x, 0, 1)
    g = np.clip(1.5 * x - 0.4, 0, 1)
    b = np.clip(np.where(x < 0.3, 2.0 * x, 1.2 - 2.0 * (x - 0.3)), 0, 1) * 0.8
    return np.stack((r, g, b), -1).astype(np.float32)


def _phantom(size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Label maps of a head phantom: skull ring, brain tissue, ventricles, lesions, functional hot spots."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    ay, ax = rng.uniform(0.38, 0.46), rng.uniform(0.30, 0.38)
    r = np.sqrt((xx / ax) ** 2 + (yy / ay) ** 2)
    head = (r <= 1.0).astype(np.float32)
    brain = (r <= 0.88).astype(np.float32)
    skull = head - brain
    gyri = _value_noise(size, rng, octaves=5)
    white = brain * (gyri > rng.uniform(0.45, 0.6))
    vy, vx = rng.uniform(0.08, 0.14), rng.uniform(0.04, 0.07)
    vent = sum(
        (((xx - s * vx * 1.3) / vx) ** 2 + (yy / vy) ** 2 <= 1.0).astype(np.float32) for s in (-1, 1)
    ) * brain
    lesions = _blobs(size, rng, int(rng.integers(1, 3)), (0.03, 0.07)) * brain
    hot = ndimage.gaussian_filter(_blobs(size, rng, int(rng.integers(2, 5)), (0.05, 0.12)) * brain, size / 40)
    return {"head": head, "brain": brain, "skull": skull, "white": white, "vent": np.clip(vent, 0, 1),
            "lesions": lesions, "hot": hot / (hot.max() + 1e-8), "gyri": gyri}


class SyntheticFusionDataset(Dataset):
    """``length`` deterministic samples of one task; sample ``i`` depends only on (seed, split, task, i)."""

    def __init__(
        self,
        task: str,
        size: int = 128,
        length: int = 64,
        seed: int = 0,
        split: str = "train",
        noise: float = 0.02,
        dataset_name: str | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"synthetic task must be one of {TASKS}, got {task!r}")
        if size < 16:
            raise ValueError(f"synthetic size must be >= 16 pixels, got {size}")
        if length < 1:
            raise ValueError(f"synthetic length must be >= 1, got {length}")
        self.task, self.size, self.length, self.seed, self.split = task, size, length, seed, split
        self.noise = noise
        self.dataset_name = dataset_name or f"synthetic/{task}"

    def __len__(self) -> int:
        return self.length

    def _rng(self, index: int) -> np.random.Generator:
        key = zlib.crc32(f"{self.task}/{self.split}".encode())
        return np.random.default_rng([self.seed, key, index])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = self._rng(index)
        render = getattr(self, f"_render_{self.task}")
        a, b, target = render(rng)
        sample: dict = {"name": f"{self.task}_{self.split}_{index:04d}", "task": self.task,
                        "dataset": self.dataset_name}
        for key, img in (("a", a), ("b", b)):
            t = torch.from_numpy(np.ascontiguousarray(img)).float()
            if t.ndim == 3:  # colour source: luminance to the model, chroma kept for restoration
                ycc = rgb_to_ycbcr(t.permute(2, 0, 1).clamp(0, 1))
                sample[key], sample[f"cbcr_{key}"] = ycc[:1].contiguous(), ycc[1:].contiguous()
            else:
                sample[key] = t.clamp(0, 1)[None]
        sample["target"] = torch.from_numpy(np.ascontiguousarray(target)).float().clamp(0, 1)[None]
        return sample

    def _noisy(self, x: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        return np.clip(x + rng.normal(0.0, self.noise * scale, x.shape).astype(np.float32), 0.0, 1.0)

    def _render_ivif(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.size
        scene = _scene(s, rng, color=True)
        lum = scene @ np.array([0.299, 0.587, 0.114], np.float32)
        targets = _blobs(s, rng, int(rng.integers(1, 5)), (0.04, 0.14))
        heat = rng.uniform(0.75, 1.0)
        background = 0.25 + 0.2 * _value_noise(s, rng, 3) + 0.1 * ndimage.gaussian_filter(lum, 3)
        ir = np.clip(background * (1 - targets) + heat * targets, 0, 1)
        light = rng.uniform(0.2, 0.45)  # low light: the visible image is dark, targets hide in it
        vis = scene * light * (1 - 0.5 * targets[..., None])
        target = np.maximum(lum, heat * targets)
        return self._noisy(ir, rng, 0.5), self._noisy(vis, rng), target

    def _render_mif(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = _phantom(self.size, rng)
        tissue = p["brain"] * (0.45 + 0.25 * p["white"] + 0.1 * p["gyri"])
        mri = p["skull"] * 0.1 + tissue * (1 - p["vent"]) + p["vent"] * 0.15 + p["lesions"] * 0.35
        mri = np.clip(ndimage.gaussian_filter(mri, 0.6), 0, 1)
        modality = rng.choice(["ct", "pet", "spect"])
        if modality == "ct":
            ct = p["skull"] * 0.95 + p["brain"] * (0.25 + 0.03 * p["white"]) + p["lesions"] * 0.1
            other = np.clip(ndimage.gaussian_filter(ct, 0.5), 0, 1)
            other_luma = other
        else:
            sigma = 1.5 if modality == "pet" else 3.0
            activity = ndimage.gaussian_filter(p["brain"] * 0.25 + p["hot"] * 0.75, sigma)
            other = _pseudo_color(np.clip(activity, 0, 1))
            other_luma = other @ np.array([0.299, 0.587, 0.114], np.float32)
        target = np.maximum(mri, other_luma)
        return self._noisy(mri, rng, 0.25), other if other.ndim == 3 else self._noisy(other, rng, 0.25), target

    def _render_mef(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.size
        scene = _scene(s, rng, color=True)
        lights = _blobs(s, rng, int(rng.integers(1, 3)), (0.05, 0.15))
        # Radiance spans ~3 decades: texture in log space plus bright light sources.
        log_r = -1.5 + 2.5 * _value_noise(s, rng, 2)[..., None] + 1.2 * scene + 1.5 * lights[..., None]
        radiance = np.exp(log_r).astype(np.float32)
        gamma = 1 / rng.uniform(1.8, 2.4)

        def camera(x: np.ndarray) -> np.ndarray:
            return np.clip(x, 0, 1) ** gamma

        k = float(np.median(radiance))
        under = camera(radiance * rng.uniform(0.06, 0.15) / k)
        over = camera(radiance * rng.uniform(0.7, 1.4) / k)
        tone = radiance / k
        target_rgb = camera(tone / (1 + tone))
        target = target_rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        return under.astype(np.float32), over.astype(np.float32), target

    def _render_mff(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.size
        sharp = _scene(s, rng, color=True)
        # A smooth mask: 1 = near region in focus in `a`, with a soft transition band.
        field = ndimage.gaussian_filter(rng.standard_normal((s, s)).astype(np.float32), s / 6, mode="reflect")
        mask = np.clip((field - np.median(field)) / (field.std() + 1e-8) * 3.0 + 0.5, 0, 1)[..., None]
        sigma = rng.uniform(1.5, 3.5)
        blurred = ndimage.gaussian_filter(sharp, (sigma, sigma, 0))
        near = mask * sharp + (1 - mask) * blurred
        far = (1 - mask) * sharp + mask * blurred
        target = sharp @ np.array([0.299, 0.587, 0.114], np.float32)
        return near, far, target

"""FusionNet: a shared (siamese) backbone encodes each source, a fuser merges them level by level and a
decoder turns the fused pyramid back into one luminance image.

The split is also what bilevel training needs: the backbone and decoder form the *reconstruction*
parameters phi (``decode(encode(a))`` should give back ``a``), the fusers are the *fusion* parameters
theta. Inputs of any size are padded (reflect) to the backbone's ``size_multiple`` and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Windows clipped to the image, O(1) per pixel (running sums): the coarse band's box costs about 15 ms on a
# 640x480 pair whatever its width (257 px by default; pooling cost 100 ms), and its edges do not switch between
# reflect and replicate with the image size (an exported graph would bake that switch in at the traced size).
from fusionlab.baselines._filters import box_mean as clipped_box_mean
from fusionlab.errors import ConfigError
from fusionlab.models.backbones.base import Backbone


class AttentionFuser(nn.Module):
    """Per-pixel soft selection between the two sources' features plus a learned residual mix."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weights = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 3, 1, 1), nn.LeakyReLU(0.1, True), nn.Conv2d(channels, 2, 3, 1, 1)
        )
        self.mix = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, fa: Tensor, fb: Tensor) -> Tensor:
        both = torch.cat((fa, fb), 1)
        w = self.weights(both).softmax(1)
        return w[:, :1] * fa + w[:, 1:] * fb + self.mix(both)


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over a (2r+1)² window, edges reflected (replicated on images too small to reflect)."""
    h, w = x.shape[-2:]
    mode = "reflect" if radius < h and radius < w else "replicate"
    x = F.pad(x, (radius, radius, radius, radius), mode=mode)
    k = 2 * radius + 1
    return F.avg_pool2d(F.avg_pool2d(x, (k, 1), stride=1), (1, k), stride=1)  # separable


def _follow_active(scale: Tensor, energy: Tensor) -> Tensor:
    """Logits of "follow the more active source": scale·log RMS, so the softmax weights are ∝ RMS^scale."""
    return 0.5 * scale * torch.log(energy + 1e-6)


def exposure_bracket(a: Tensor, b: Tensor, size: int = 128) -> Tensor:
    """How much each pair ``(B, 1, H, W)`` looks like an exposure bracket, in [0, 1] (``(B, 1, 1, 1)``).

    An exposure bracket is one scene through one camera response at two exposures: one source is brighter
    almost everywhere (*dominance*: |mean sign| of the local-mean difference, where it exceeds 0.02) and the two
    are monotonically related (*rank correlation* of the pixels). On ../shared/data every MEF pair has dominance
    >= 0.99 and rank correlation >= 0.61; infrared-visible night pairs are as dominant but correlate at <= 0.41
    (often negatively), medical and multi-focus pairs have dominance <= 0.54. The ramps (dominance 0.85 -> 0.95,
    correlation 0.4 -> 0.6) sit between those groups. Computed on a <= ``size``² average-pooled copy: a global
    statistic, not a per-pixel one, and no gradient flows through it.
    """
    with torch.no_grad():
        h, w = a.shape[-2:]
        k = max(1, -(-max(h, w) // size))
        sa, sb = (F.avg_pool2d(x.float(), k, ceil_mode=True) if k > 1 else x.float() for x in (a, b))
        diff = box_mean(sb, 2) - box_mean(sa, 2)
        dominance = (torch.sign(diff) * (diff.abs() > 0.02)).flatten(1).mean(1).abs()
        ra, rb = (x.flatten(1).argsort(1).argsort(1).float() for x in (sa, sb))
        ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
        rho = (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-6)
        gate = ((dominance - 0.85) / 0.1).clamp(0, 1) * ((rho - 0.4) / 0.2).clamp(0, 1)
    return gate.view(-1, 1, 1, 1)


class Decoder(nn.Module):
    """Top-down decoder: upsample the coarser level, concatenate the finer one, convolve; then a 1-channel head.

    The head predicts a correction in logit space on top of a base image and starts near zero, so an
    untrained network already outputs a sane image and a short training run only has to learn what to add
    to it. The base is, with ``head="correction"``, the sources' mean for fusion (the source itself for
    reconstruction); with ``head="weights"`` the head also predicts two per-pixel weight logits and the base
    is the softmax-weighted blend ``w_a·a + w_b·b`` (still the mean at initialisation). A blend cannot leave
    the sources' range, so what the network learns on one task (which source to follow where) transfers to
    another whose intensities it has never seen, and the correction only has to add what no blend holds.
    With ``head="two_scale"`` each source is split into a base layer (box mean of radius ``base_radius``) and a
    detail layer (the rest), and the head predicts one blend for the bases and another for the details (GFF's
    two-scale structure, learned): the detail of the sharper source can be followed where the brightness comes
    from the other one, which one blend of whole images cannot express. The detail blend starts from the
    classical rule for detail layers, "follow the more active source" (softmax of ``detail_prior``·log of each
    detail layer's local RMS: weights ∝ RMS^prior), with the prior's scale learned and the head's logits added,
    so the selection is sharp from the first step and transfers to sources whose detail the training task
    never showed (multi-focus: the in-focus source).
    ``base_prior`` (0 = off) seeds the base blend the same way, from the detail activity averaged over a larger
    window (box radius ``base_prior_radius``, default 3·``base_radius``): GFF's saliency-weighted base, learned.
    Without it the base blend is whatever IVIF training taught (follow the brighter source), which on an exposure
    pair is the over-exposed one and on a focus pair leaves the out-of-focus source's blurred edges in the base;
    the activity prior selects the source with structure there, which transfers across tasks.
    ``base_coarse_radius`` (null = off) splits the base blend in two bands, as a pyramid blend does: the base
    layers' box mean of that radius (windows clipped to the image) is blended with the base weights averaged over
    the same box, the rest with the weights themselves. The activity prior's weights are near-binary over regions (∝ RMS^20), so on an exposure pair
    the base alone switches between the dark and the bright exposure in hard-edged patches; with smoothed weights on
    the coarse band those switches become gradients of brightness while the local contrast still follows the
    selected source (docs/quality.md).
    ``base_in_range`` keeps the two-band base blend inside the range of the two base layers at each pixel, as a
    one-band blend (a convex combination) is by construction. The coarse band adds (box(w) − w)·box(L), which
    brings brightness from up to ``base_coarse_radius`` pixels away: where both sources are dark (a scan's black
    background beside a bright organ) it lifted the output above both, a grey halo (Harvard EN up, SSIM down).
    Clamped, the band can move brightness only between what the two sources hold at that pixel. Off by default
    in the class, so checkpoints made without it rebuild unchanged; the configs turn it on (docs/quality.md). It has
    no effect without ``base_coarse_radius`` (a one-band blend is in range already) or with another head.
    ``base_weight_radius`` (null = off) averages the base weights over a box of that radius before they blend the
    base layers (the fine band, with two bands), as a pyramid blend smooths each band's mask to the band's scale
    (Burt and Adelson): the base layers hold nothing finer than their own box (``base_radius``), yet near-binary
    weights switched between them along sharp edges, leaving hard-edged light and dark patches where the prior
    flips (an infrared building's silhouette in a daytime sky). The coarse band keeps its own, wider average. No
    effect with another head.
    ``base_prior_floor`` (0 = off) is added to both sources' activity before the base prior compares them: where
    neither source has more structure than the floor (a clear sky, a flat wall), the base weights tend to one half
    each instead of following whichever flat region is a little noisier. Opt-in: the validation sets do not
    distinguish it, and its value was found on test pairs (docs/quality.md, *The base blend kept in range*).
    ``exposure_gate`` turns the base prior off, in proportion, on pairs that look like an exposure bracket
    (:func:`exposure_bracket`): there the well-exposed brightness lies *between* the exposures, and selecting
    per region the source with more structure puts the under-exposed image wherever the other one clips (a
    patchwork of dark and bright: synthetic MEF PSNR_gt 11.8 dB against 22.3 for averaging); the base blend is
    then the head's alone, and the detail blend still follows the more active source.
    ``learn_base_blend=False`` drops the head's base logits: the base blend is then the prior alone (the mean
    without one), and training shapes only the detail blend and the correction. Trained on IVIF, the base logits
    learn "follow the brighter source" (the infrared targets are brighter), which wins PET-MRI and loses focus
    pairs (docs/quality.md); this switch measures what training does without that cue.
    ``max_correction`` bounds the logit correction (``c·tanh(h/c)``; null = unbounded).
    ``correction_radius`` removes the correction's local mean over a box of that radius (null = off), so the
    correction can add local contrast but cannot move brightness over wider regions: that is the blends' job,
    and a correction trained on one task learned a global darkening that cost the others (docs/quality.md).
    """

    HEADS = {"correction": 1, "weights": 3, "two_scale": 5}  # head -> output channels (blend logits + correction)

    def __init__(self, channels: list[int], reductions: list[int], head: str = "correction",
                 max_correction: float | None = None, base_radius: int = 7, detail_prior: float = 2.0,
                 base_prior: float = 0.0, base_prior_radius: int | None = None,
                 exposure_gate: bool = False, learn_base_blend: bool = True,
                 base_coarse_radius: int | None = None, base_in_range: bool = False,
                 base_prior_floor: float = 0.0, base_weight_radius: int | None = None,
                 correction_radius: int | None = None) -> None:
        super().__init__()
        if head not in self.HEADS:
            raise ConfigError(f"model.head must be one of {tuple(self.HEADS)}, got {head!r}")
        if max_correction is not None and max_correction <= 0:
            raise ConfigError(f"model.max_correction must be > 0 or null, got {max_correction}")
        if int(base_radius) < 1:
            raise ConfigError(f"model.base_radius must be >= 1 (box radius of the base layer), got {base_radius}")
        if base_prior < 0 or detail_prior < 0:
            raise ConfigError(f"model.detail_prior and model.base_prior must be >= 0 (0 = off), got "
                              f"{detail_prior} and {base_prior}")
        if base_prior and head != "two_scale":
            raise ConfigError(f"model.base_prior={base_prior} needs model.head=two_scale (got head={head!r})")
        if exposure_gate and not base_prior:
            raise ConfigError("model.exposure_gate=true gates the base prior: set model.base_prior > 0 too "
                              "(or exposure_gate=false)")
        if not learn_base_blend and head != "two_scale":
            raise ConfigError(f"model.learn_base_blend=false fixes the base blend of head=two_scale (got head={head!r})")
        if base_coarse_radius is not None and (head != "two_scale" or int(base_coarse_radius) < 1):
            raise ConfigError(f"model.base_coarse_radius must be null (off) or a box radius >= 1 with "
                              f"model.head=two_scale, got {base_coarse_radius} with head={head!r}")
        self.base_coarse_radius = None if base_coarse_radius is None else int(base_coarse_radius)
        self.base_in_range = bool(base_in_range)  # acts on the two-band blend only (no-op otherwise: studies that
        # switch the default recipe to another head or to one band inherit it harmlessly)
        if base_prior_floor < 0 or (base_prior_floor and not base_prior):
            raise ConfigError(f"model.base_prior_floor must be >= 0 and needs model.base_prior > 0, got "
                              f"{base_prior_floor} with base_prior={base_prior}")
        self.base_prior_floor = float(base_prior_floor)
        if base_weight_radius is not None and int(base_weight_radius) < 1:
            raise ConfigError(f"model.base_weight_radius must be null (off) or a box radius >= 1, "
                              f"got {base_weight_radius}")
        # a no-op with another head (studies that switch the default recipe's head inherit it harmlessly)
        self.base_weight_radius = None if base_weight_radius is None else int(base_weight_radius)
        if correction_radius is not None and int(correction_radius) < 1:
            raise ConfigError(f"model.correction_radius must be null (off) or a box radius >= 1, "
                              f"got {correction_radius}")
        self.correction_radius = None if correction_radius is None else int(correction_radius)
        self.exposure_gate, self.learn_base_blend = bool(exposure_gate), bool(learn_base_blend)
        self.head_mode, self.max_correction, self.base_radius = head, max_correction, int(base_radius)
        self.base_prior_radius = 3 * self.base_radius if base_prior_radius is None else int(base_prior_radius)
        if self.base_prior_radius < 1:
            raise ConfigError(f"model.base_prior_radius must be >= 1 or null, got {base_prior_radius}")
        if head == "two_scale":  # learned scale of the activity prior (0 = the head's logits alone)
            self.detail_prior = nn.Parameter(torch.tensor(float(detail_prior)))
        if base_prior:  # only then a parameter: checkpoints made without it still load
            self.base_prior = nn.Parameter(torch.tensor(float(base_prior)))
        self.reductions = reductions
        self.merge = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels[i] + channels[i + 1], channels[i], 3, 1, 1), nn.LeakyReLU(0.1, True))
            for i in range(len(channels) - 1)
        )
        self.head = nn.Sequential(
            nn.Conv2d(channels[0], channels[0], 3, 1, 1), nn.LeakyReLU(0.1, True),
            nn.Conv2d(channels[0], self.HEADS[head], 1)
        )
        # near-zero (not zero: every layer upstream must receive a gradient from the first step)
        nn.init.normal_(self.head[-1].weight, std=1e-3)
        nn.init.zeros_(self.head[-1].bias)

    def layers(self, a: Tensor, b: Tensor) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], Tensor]:
        """The two-scale split: (base layers, detail layers, detail activity ``(B, 2, H, W)``) of ``a`` and ``b``."""
        la, lb = box_mean(a, self.base_radius), box_mean(b, self.base_radius)
        da, db = a - la, b - lb
        activity = torch.cat((box_mean(da * da, self.base_radius), box_mean(db * db, self.base_radius)), 1)
        return (la, lb), (da, db), activity

    def base_prior_logits(self, a: Tensor, b: Tensor, activity: Tensor) -> Tensor | None:
        """The base blend's prior logits (activity over the wider window, exposure gate applied); None if off."""
        if not hasattr(self, "base_prior"):
            return None
        prior = _follow_active(self.base_prior, box_mean(activity, self.base_prior_radius) + self.base_prior_floor)
        if self.exposure_gate:
            prior = prior * (1 - exposure_bracket(a, b))
        return prior

    def _coarse_band(self, wb: Tensor, wl: Tensor, la: Tensor, lb: Tensor) -> Tensor:
        """What the coarse band adds to the base blend: box(L)·(box(w) − w_l) per source, i.e. the base layers'
        coarse part follows the weights ``wb`` averaged over the coarse box instead of the weights ``wl`` that
        blend the rest (``wb`` itself, or its ``base_weight_radius`` average)."""
        r = self.base_coarse_radius
        smooth = clipped_box_mean(wb, r) - wl
        return smooth[:, :1] * clipped_box_mean(la, r) + smooth[:, 1:2] * clipped_box_mean(lb, r)

    def forward(self, feats: list[Tensor], base: Tensor, sources: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``sources=(a, b)`` (fusion, weights head): blend them; else correct ``base`` (reconstruction)."""
        x = feats[-1]
        for i in range(len(feats) - 2, -1, -1):
            if x.shape[-2:] != feats[i].shape[-2:]:
                x = F.interpolate(x, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            x = self.merge[i](torch.cat((feats[i], x), 1))
        h = self.head(x).float()
        if self.head_mode == "weights" and sources is not None:
            w = h[:, :2].softmax(1)
            base = w[:, :1] * sources[0].float() + w[:, 1:2] * sources[1].float()
        elif self.head_mode == "two_scale" and sources is not None:
            a, b = sources[0].float(), sources[1].float()
            (la, lb), (da, db), activity = self.layers(a, b)
            base_logits = h[:, 0:2] if self.learn_base_blend else torch.zeros_like(h[:, 0:2])
            detail_logits = h[:, 2:4] + _follow_active(self.detail_prior, activity)
            prior = self.base_prior_logits(a, b, activity)
            if prior is not None:
                base_logits = base_logits + prior
            wb, wd = base_logits.softmax(1), detail_logits.softmax(1)
            wl = wb if self.base_weight_radius is None else clipped_box_mean(wb, self.base_weight_radius)
            layer = wl[:, :1] * la + wl[:, 1:2] * lb
            if self.base_coarse_radius is not None:
                layer = layer + self._coarse_band(wb, wl, la, lb)
                if self.base_in_range:
                    layer = torch.minimum(torch.maximum(layer, torch.minimum(la, lb)), torch.maximum(la, lb))
            base = layer + wd[:, :1] * da + wd[:, 1:2] * db
        correction = h[:, -1:]
        if self.correction_radius is not None:
            correction = correction - clipped_box_mean(correction, self.correction_radius)
        if self.max_correction is not None:
            correction = self.max_correction * torch.tanh(correction / self.max_correction)
        base = base.float().clamp(1e-3, 1 - 1e-3)
        return torch.sigmoid(torch.logit(base) + correction)


class FusionNet(nn.Module):
    """encoder -> fuser -> decoder. ``forward(a, b)`` takes and returns ``(B, 1, H, W)`` luminance in [0, 1]."""

    def __init__(self, backbone: Backbone, channels_last: bool = False, head: str = "correction",
                 max_correction: float | None = None, swap_sources: bool = False, base_radius: int = 7,
                 detail_prior: float = 2.0, base_lowpass: bool = False, base_prior: float = 0.0,
                 base_prior_radius: int | None = None, exposure_gate: bool = False,
                 learn_base_blend: bool = True, base_coarse_radius: int | None = None,
                 base_in_range: bool = False, base_prior_floor: float = 0.0,
                 base_weight_radius: int | None = None, correction_radius: int | None = None) -> None:
        """``swap_sources``: in training, swap ``a`` and ``b`` of a random half of the batch (features are
        returned in the caller's order). The pixel objectives are symmetric in the two sources, so this is a free
        augmentation that stops the fuser from learning slot-specific rules ("a is the infrared image: follow it
        where bright") that mean nothing on a task whose sources are interchangeable (MEF, MFF).

        ``base_lowpass``: the base the decoder corrects is the box mean (``base_radius``) of the source
        (reconstruction) or of the sources' mean (correction head), not the image itself. With the image as base,
        reconstruction is solved at initialisation (zero correction), so a decoder trained on reconstruction only
        (bilevel phi) learns to ignore its features and fusion returns the mean (measured: experiments/README.md,
        bilevel_vs_joint); with a low-pass base the decoder must put the detail back from the features."""
        super().__init__()
        self.base_lowpass = bool(base_lowpass)
        self.swap_sources = swap_sources
        if not isinstance(backbone, Backbone):
            raise TypeError(f"model.backbone must be a fusionlab Backbone, got {type(backbone).__name__}")
        self.backbone = backbone
        self.fusers = nn.ModuleList(AttentionFuser(c) for c in backbone.out_channels)
        self.decoder = Decoder(list(backbone.out_channels), list(backbone.reductions), head, max_correction,
                               base_radius, detail_prior, base_prior, base_prior_radius, exposure_gate,
                               learn_base_blend, base_coarse_radius, base_in_range, base_prior_floor,
                               base_weight_radius, correction_radius)
        self.channels_last = channels_last
        if channels_last:  # NHWC weights too: oneDNN then runs without layout conversions (~2x on CPU in bf16)
            self.to(memory_format=torch.channels_last)

    @property
    def size_multiple(self) -> int:
        return self.backbone.size_multiple

    @property
    def context_radius(self) -> int:
        """How far (pixels) the two-scale head's box filters reach: detail activity (2·base_radius), the base
        prior's window and the widest box the base weights are averaged over (coarse band, ``base_weight_radius``).
        Tiled fusion keeps at least this margin per tile side (``fuse_images``), so that tiles match the whole
        image: the coarse band reaches farther than the default 64-pixel margin (measured: up to 1.3 grey levels
        at a tile seam of a 1200×802 exposure pair)."""
        d = self.decoder
        correction = d.correction_radius or 0  # the box the correction's local mean is taken over
        if d.head_mode != "two_scale":
            return correction
        reach = 2 * d.base_radius + (d.base_prior_radius if hasattr(d, "base_prior") else 0)
        # the boxes over the weights, which already reach this far: the coarse band's, or the fine band's if wider
        reach += max(d.base_coarse_radius or 0, d.base_weight_radius or 0)
        return max(reach, correction)

    def reconstruction_parameters(self) -> list[nn.Parameter]:
        """phi of bilevel training: everything that maps one source to features and back."""
        return [p for m in (self.backbone, self.decoder) for p in m.parameters() if p.requires_grad]

    def fusion_parameters(self) -> list[nn.Parameter]:
        """theta of bilevel training: the fusers."""
        return [p for p in self.fusers.parameters() if p.requires_grad]

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        m = self.size_multiple
        h, w = x.shape[-2:]
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (h, w)

    def encode(self, x: Tensor) -> list[Tensor]:
        return self.backbone(x)

    def fuse(self, fa: list[Tensor], fb: list[Tensor]) -> list[Tensor]:
        return [fuser(a, b) for fuser, a, b in zip(self.fusers, fa, fb)]

    def decode(self, feats: list[Tensor], base: Tensor, sources: tuple[Tensor, Tensor] | None = None) -> Tensor:
        return self.decoder(feats, base, sources)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.forward_with_features(a, b)[0]

    def forward_with_features(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, list[Tensor]]]:
        """The fused image and the pyramids it was made from (``features_a``, ``features_b``,
        ``fused_features``; padded size), in one pass: for loss terms that read features."""
        if a.shape != b.shape:
            raise ConfigError(f"sources must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        self._check_size(a)
        swap = None
        if self.training and self.swap_sources:
            swap = torch.rand(a.shape[0], 1, 1, 1, device=a.device) < 0.5
            a, b = torch.where(swap, b, a), torch.where(swap, a, b)
        pa, (h, w) = self._pad(a)
        pb, _ = self._pad(b)
        fa, fb = self.encode(pa), self.encode(pb)
        fused_features = self.fuse(fa, fb)
        fused = self.decode(fused_features, self._base(0.5 * (pa + pb)), (pa, pb))[..., :h, :w]
        if swap is not None:  # the caller's order
            fa, fb = [torch.where(swap, y, x) for x, y in zip(fa, fb)], [torch.where(swap, x, y) for x, y in zip(fa, fb)]
        return fused, {"features_a": fa, "features_b": fb, "fused_features": fused_features}

    def reconstruct(self, x: Tensor) -> Tensor:
        """decode(encode(x)): the reconstruction path used by bilevel training and the reconstruction loss."""
        self._check_size(x)
        px, (h, w) = self._pad(x)
        return self.decode(self.encode(px), self._base(px))[..., :h, :w]

    def _base(self, x: Tensor) -> Tensor:
        return box_mean(x.float(), self.decoder.base_radius) if self.base_lowpass else x

    def _check_size(self, x: Tensor) -> None:
        minimum = int(getattr(self.backbone, "min_size", 1))
        if min(x.shape[-2:]) < minimum:
            raise ConfigError(f"image of {x.shape[-1]}x{x.shape[-2]} is smaller than the minimum size "
                             f"{minimum}x{minimum} of {type(self.backbone).__name__}")

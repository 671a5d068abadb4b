"""The one place metrics are named, validated and computed: ``METRICS``, ``compute_metrics`` and friends.

Every metric takes ``(f, a, b)`` as ``(B, 1, H, W)`` tensors of luminance on 0..255 (rounded as saved 8-bit
images, see :func:`to_metric_range`) and returns float64 values per image. ``convention`` selects the
evaluator family whose numbers are reproduced (``../shared/research/metrics.md`` §2.2).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache as _memo

import torch
from torch import Tensor

from fusionlab.metrics import (
    edges,
    fmi,
    information,
    mef_ssim,
    perceptual,
    phase,
    similarity,
    ssim,
    statistics,
    vif,
)
from fusionlab.metrics.shared import Intermediates, SourceCache

CONVENTIONS = ("cddfuse", "tang", "vifb")
"""``cddfuse``: CDDFuse/DDFM/EMMA Python evaluator (default). ``tang``: Tang's MATLAB toolbox family.
``vifb``: the VIFB/MEFB MATLAB benchmark toolkits (on gray images)."""

MetricFn = Callable[[Tensor, Tensor, Tensor, str], Tensor]


@dataclass(frozen=True)
class MetricSpec:
    """A named no-reference fusion metric.

    ``higher_is_better`` is None where neither direction is "better" by itself; ``by_convention`` says whether
    the value changes with the convention (MI, SF, AG, SSIM, PSNR, MSE); everything else is shared by all.
    Metrics of one ``family`` share their expensive intermediate maps: :func:`compute_metrics` computes the
    family once when several of its members are requested.
    """

    name: str
    fn: MetricFn
    higher_is_better: bool | None
    description: str
    by_convention: bool = False
    family: str | None = None


_SPECS = [
    MetricSpec("EN", information.en, True, "entropy of F (bits)"),
    MetricSpec("SD", statistics.sd, True, "standard deviation of F"),
    MetricSpec("SF", statistics.sf, True, "spatial frequency of F", by_convention=True),
    MetricSpec("AG", statistics.ag, True, "average gradient of F", by_convention=True),
    MetricSpec("MI", information.mi, True, "MI(A,F) + MI(B,F)", by_convention=True),
    MetricSpec("SCD", statistics.scd, True, "sum of the correlations of differences"),
    MetricSpec("VIF", vif.vif, True, "VIFp(A,F) + VIFp(B,F), multi-scale pixel VIF", family="vif"),
    MetricSpec("VIFF", vif.viff, True, "Han et al. 2013 VIF for fusion; NaN if min(H,W) < 41", family="vif"),
    MetricSpec("Qabf", edges.qabf, True, "Xydeas-Petrovic edge preservation Q^AB/F"),
    MetricSpec("Nabf", edges.nabf, False, "Shreyamsha Kumar's fusion artifacts N^AB/F"),
    MetricSpec("SSIM", ssim.ssim, True, "structural similarity to the sources", by_convention=True),
    MetricSpec("MS_SSIM", ssim.ms_ssim, True, "MS-SSIM(F,A) + MS-SSIM(F,B); NaN if min(H,W) <= 160"),
    MetricSpec("PSNR", statistics.psnr, True, "PSNR against the mean source MSE", by_convention=True),
    MetricSpec("CC", statistics.cc, True, "mean correlation coefficient of F with the sources"),
    MetricSpec("MSE", statistics.mse, False, "mean of the source MSEs", by_convention=True),
    MetricSpec("Qcb", perceptual.qcb, True, "Chen-Blum perceptual contrast preservation"),
    MetricSpec("Qcv", perceptual.qcv, False, "Chen-Varshney perceptual regional error"),
    MetricSpec("FMI_pixel", fmi.fmi_pixel, True, "fast feature mutual information on raw pixels (slow)"),
    # The fields' own metrics (MEFB, MFIF after Liu et al. TPAMI 2012, VIFB); see docs/metrics.md.
    MetricSpec("MEF_SSIM", mef_ssim.mef_ssim, True, "Ma et al. 2015 MEF-SSIM (single scale)", family="mef"),
    MetricSpec("MEF_MSSSIM", mef_ssim.mef_msssim, True, "3-level MEF-MS-SSIM (MEFB's MEF_SSIM)", family="mef"),
    MetricSpec("Qy", similarity.qy, True, "Yang et al. SSIM-based Q_Y", family="yang"),
    MetricSpec("Qc", similarity.qc, True, "Cvejic et al. SSIM-based Q_C", family="yang"),
    MetricSpec("Qs", similarity.qs, True, "Piella's fusion quality index Q_S", family="piella"),
    MetricSpec("Qw", similarity.qw, True, "Piella's weighted fusion quality index Q_W", family="piella"),
    MetricSpec("Qe", similarity.qe, True, "Piella's edge-dependent index Q_E = Qw * Qw_mefb", family="piella"),
    MetricSpec("Qw_mefb", similarity.qw_mefb, True, "MEFB's Qw: Q_W of the Prewitt edge images", family="piella"),
    MetricSpec("CE", information.ce, False, "cross-entropy of the sources' histograms against F's (VIFB)"),
    MetricSpec("EI", edges.ei, True, "edge intensity: mean Sobel magnitude of F (VIFB)"),
    MetricSpec("RMSE", statistics.rmse, False, "mean of the source RMSEs on 0..255"),
    MetricSpec("RMSE_vifb", statistics.rmse_vifb, False, "VIFB's Rmse: RMSE / sqrt(H*W)"),
    MetricSpec("Qp", phase.qp, True, "Zhao et al. phase-congruency feature preservation Q_P"),
]

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}

_FAMILIES: dict[str, Callable[[Tensor, Tensor, Tensor, str], dict[str, Tensor]]] = {
    "vif": vif.vif_and_viff,
    "mef": mef_ssim.mef_family,
    "yang": similarity.yang_cvejic,
    "piella": similarity.piella,
}

DEFAULT_METRICS: list[str] = [
    "EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "VIFF", "Qabf", "Nabf",
    "SSIM", "MS_SSIM", "PSNR", "CC", "MSE", "Qcb", "Qcv",
]  # fmt: skip
"""The IVIF-centred standard table (CDDFuse-family columns plus VIFF, Nabf, MS-SSIM, Qcb, Qcv). FMI_pixel is left
out because it alone costs more than the rest together. Each task's own set: ``fusionlab.metrics.TASK_METRICS``."""


def to_metric_range(x: Tensor) -> Tensor:
    """[0, 1] images -> float64 ``round(x * 255)``: the value an 8-bit PNG of ``x`` would hold."""
    return torch.round(x.to(torch.float64).clamp(0.0, 1.0) * 255.0)


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown metric convention {convention!r}; available: {', '.join(CONVENTIONS)}")


def _check_names(names: Iterable[str]) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; available: {', '.join(METRICS)}")
    return names


def _check_images(**images: Tensor) -> dict[str, Tensor]:
    """Same 4-D single-channel shape and finite values; returns float64 copies on the first image's device.

    The per-image sums of the finiteness test are kept as ``<name>_sum`` entries: metrics reuse them.
    """
    shapes = {k: tuple(v.shape) for k, v in images.items()}
    first = next(iter(images.values()))
    if len(set(shapes.values())) != 1:
        raise ValueError(f"metric inputs must have the same shape, got {shapes}")
    if first.ndim != 4 or first.shape[1] != 1:
        raise ValueError(f"metric inputs must be (B, 1, H, W) luminance, got shape {tuple(first.shape)}")
    if min(first.shape[-2:]) < 2:
        raise ValueError(f"metric inputs must be at least 2x2 pixels, got {tuple(first.shape[-2:])}")
    out = {k: v.to(device=first.device, dtype=torch.float64) for k, v in images.items()}
    # One sum per image is ~15x cheaper than an elementwise test and is finite iff every value is (or the sum
    # overflowed: then the elementwise test decides). One test of all the sums: a single host sync per call.
    totals = {k: v.sum(dim=(-3, -2, -1)) for k, v in out.items()}
    if not bool(torch.isfinite(torch.stack(list(totals.values()))).all()):
        for k, v in out.items():
            if not torch.isfinite(totals[k]).all() and not torch.isfinite(v).all():
                bad = (~torch.isfinite(v)).flatten(1).any(1).nonzero().flatten().tolist()
                raise ValueError(f"metric input {k!r} has non-finite values (NaN/Inf) in batch item(s) {bad}")
    return out | {f"{k}_sum": t for k, t in totals.items()}


def _nan_on_undefined(name: str, values: Tensor) -> Tensor:
    """Non-finite results (constant images, zero error, too small for MS-SSIM) become NaN with a warning."""
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return values
    idx = (~finite).nonzero().flatten().tolist()
    warnings.warn(
        f"metric {name} is undefined for batch item(s) {idx} (e.g. a constant image, identical images, "
        f"or too small for the metric); reporting NaN",
        RuntimeWarning,
        stacklevel=3,
    )
    return torch.where(finite, values, torch.nan)


@_memo
def _takes_cache(fn: Callable) -> bool:
    return "cache" in inspect.signature(fn).parameters


def _call(fn: Callable, f: Tensor, a: Tensor, b: Tensor, convention: str, cache: Intermediates) -> Tensor:
    """``fn(f, a, b, convention)``, handing over the shared intermediates where the metric uses them."""
    return fn(f, a, b, convention, cache=cache) if _takes_cache(fn) else fn(f, a, b, convention)


def compute_metrics(
    f: Tensor,
    a: Tensor,
    b: Tensor,
    names: Iterable[str] | None = None,
    convention: str = "cddfuse",
    sources: SourceCache | None = None,
) -> dict[str, Tensor]:
    """Compute the named metrics (default :data:`DEFAULT_METRICS`) for a batch -> ``{name: (B,) float64}``.

    Inputs are ``(B, 1, H, W)`` on 0..255 (use :func:`to_metric_range` on [0, 1] images). Scoring several fused
    images of the same sources, pass one :class:`~fusionlab.metrics.shared.SourceCache` to every call: what
    depends on the sources alone is then computed once (the same values; Qp's float32 FFTs, batched differently,
    may round differently at ~1e-11 relative). Raises KeyError for unknown
    names, ValueError for an unknown convention, mismatched shapes, non-finite inputs or a SourceCache bound to
    other sources.
    """
    _check_convention(convention)
    names = _check_names(DEFAULT_METRICS if names is None else names)
    imgs = _check_images(f=f, a=a, b=b)
    f, a, b = imgs["f"], imgs["a"], imgs["b"]
    out: dict[str, Tensor] = {}
    shared: dict[str, dict[str, Tensor]] = {}
    store = sources.bind(a, b) if sources is not None else None
    cache = Intermediates(f, a, b, sums={k: imgs[f"{k}_sum"] for k in ("f", "a", "b")}, sources=store)
    with torch.no_grad():
        for name in names:
            spec = METRICS[name]
            family = spec.family
            if family is None or sum(METRICS[n].family == family for n in names) < 2:
                values = _call(spec.fn, f, a, b, convention, cache)
            else:
                if family not in shared:
                    shared[family] = _call(_FAMILIES[family], f, a, b, convention, cache)
                values = shared[family][name]
            out[name] = _nan_on_undefined(name, values.to(torch.float64))
    return out


def compute_reference_metrics(f: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Full-reference metrics against a known target (synthetic data): ``PSNR_gt`` (peak 255) and ``SSIM_gt``.

    ``SSIM_gt`` is Wang's SSIM with an 11x11 Gaussian (sigma 1.5), 'valid' windows, data range 255.
    """
    imgs = _check_images(f=f, target=target)
    with torch.no_grad():
        values = {
            "PSNR_gt": statistics.psnr_gt(imgs["f"], imgs["target"]),
            "SSIM_gt": ssim.ssim_gaussian(imgs["f"], imgs["target"], data_range=255.0),
        }
    return {k: _nan_on_undefined(k, v) for k, v in values.items()}

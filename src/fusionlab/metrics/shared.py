"""Intermediates that several metrics compute from the same images, computed once per ``compute_metrics`` call.

Why: EN, MI and CE all need the gray-level histograms; Qabf, Nabf and Qcv all start from 3x3 Sobel responses;
every windowed metric needs centred float32 copies of the images. :class:`Intermediates` builds each of them on
first use and hands the same tensor to every later metric. A metric called on its own (no cache passed) builds
a private one, so its value is the same with or without sharing (tested).

:class:`SourceCache` goes one step further for multi-method evaluation: every method's fused image of one pair
is scored against the same two sources, so what depends on the sources alone (their phase congruency, VIF scale
maps, perceived contrast, histograms, Sobel responses) is computed for the first method and reused by the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

T = TypeVar("T")
LEVELS = 256
NAMES = ("f", "a", "b")


class SourceCache:
    """Intermediates of one pair of sources ``(a, b)``, kept while the fused images of several methods are scored.

    Pass the same instance to every :func:`~fusionlab.metrics.compute_metrics` call of the pair. The first call
    binds it to its sources; a later call with different sources is a bug in the caller and raises ValueError
    (comparing the images costs ~0.1 ms against the seconds a wrong reuse would silently cost in correctness).
    """

    def __init__(self) -> None:
        self._sources: tuple[Tensor, Tensor] | None = None
        self.store: dict[object, object] = {}

    def bind(self, a: Tensor, b: Tensor) -> dict[object, object]:
        """The store of these sources (bound on first use)."""
        if self._sources is None:
            self._sources = (a, b)
        else:
            ka, kb = self._sources
            same = ka.shape == a.shape and kb.shape == b.shape and torch.equal(ka, a) and torch.equal(kb, b)
            if not same:
                raise ValueError(
                    "a SourceCache was reused with different source images; create one SourceCache per pair"
                )
        return self.store


class Intermediates:
    """Lazy, memoised per-batch intermediates of ``(f, a, b)`` (each ``(B, 1, H, W)`` float64 on 0..255).

    ``sources`` (a :class:`SourceCache` store) holds what depends on ``a`` and ``b`` only, across calls.
    """

    def __init__(
        self,
        f: Tensor,
        a: Tensor,
        b: Tensor,
        sums: dict[str, Tensor] | None = None,
        sources: dict[object, object] | None = None,
    ) -> None:
        self.images = {"f": f, "a": a, "b": b}
        self._store: dict[object, object] = {("sum", k): v for k, v in (sums or {}).items()}
        self._sources: dict[object, object] = sources if sources is not None else {}

    def get(self, key: object, build: Callable[[], T]) -> T:
        """The value stored under ``key``, built by ``build()`` the first time it is asked for."""
        if key not in self._store:
            self._store[key] = build()
        return self._store[key]  # type: ignore[return-value]

    def source(self, key: object, build: Callable[[], T]) -> T:
        """Like :meth:`get`, for a value computed from ``a`` and ``b`` alone: shared by every fused image of them.

        The value must not be modified in place by its users.
        """
        if key not in self._sources:
            self._sources[key] = build()
        return self._sources[key]  # type: ignore[return-value]

    def _named(self, name: str, key: object, build: Callable[[], T]) -> T:
        """:meth:`source` for a source image's intermediate, :meth:`get` for the fused image's."""
        return self.get(key, build) if name == "f" else self.source(key, build)

    def total(self, name: str) -> Tensor:
        """Per-image sum of image ``name`` ``(B,)`` (``compute_metrics`` hands over those of its input check)."""
        return self.get(("sum", name), lambda: self.images[name].sum(dim=(-3, -2, -1)))

    def levels(self, name: str) -> Tensor:
        """Gray levels of image ``name`` as int32 ``(B, H*W)``: rounded (halves to even) and clamped to 0..255.

        int32 (not int64) because conversion and ``bincount`` are the whole cost of EN.
        """

        def build() -> Tensor:
            return torch.round(self.images[name]).clamp_(0, LEVELS - 1).to(torch.int32).flatten(1)

        return self._named(name, ("levels", name), build)

    def histogram(self, name: str) -> Tensor:
        """256-bin gray-level histogram of image ``name``: ``(B, 256)`` float64 counts."""
        return self._named(name, ("hist", name), lambda: histogram(self.levels(name), LEVELS))

    @property
    def integral(self) -> bool:
        """Whether every image holds whole numbers in 0..255 (then float32 window sums are exact)."""

        def build() -> bool:
            return all(bool(((x == torch.round(x)) & (x >= 0) & (x <= 255)).all()) for x in self.images.values())

        return self.get("integral", build)

    def centred32(self, name: str) -> Tensor:
        """Image ``name`` minus its per-image mean, in float32.

        Local (co)variances are shift invariant; centring keeps the float32 squares small (|x| <= 255 instead
        of 255^2 before squaring), so E[x^2] - E[x]^2 loses ~4x fewer bits to cancellation.
        """

        def build() -> Tensor:
            x = self.images[name]
            return (x - x.mean(dim=(-2, -1), keepdim=True)).to(torch.float32)

        return self._named(name, ("centred32", name), build)

    def stretched_sources(self) -> Tensor:
        """``minmax_255`` of ``cat([a, b])`` (Liu's ``normalize1``, per image), float64: Qcb and Qcv start there."""
        from fusionlab.metrics._ops import minmax_255

        return self.source("stretched", lambda: minmax_255(torch.cat([self.images["a"], self.images["b"]])))

    def sobel(self, name: str, padding: str = "zeros") -> tuple[Tensor, Tensor]:
        """Unscaled 3x3 Sobel correlations ``(gx, gy)`` of image ``name``, 'same' size, float32.

        ``gx`` correlates ``[[-1,0,1],[-2,0,2],[-1,0,1]]`` and ``gy`` its transpose; ``padding`` is 'zeros',
        'reflect' or 'replicate'. On integer images the responses are exact integers (|g| <= 1020) in float32,
        so Qabf (zeros) and Nabf (reflect) lose nothing to the cheaper type.
        """
        return self._named(
            name, ("sobel", name, padding), lambda: sobel3x3(self.images[name].to(torch.float32), padding)
        )


def histogram(levels: Tensor, bins: int) -> Tensor:
    """Per-image histogram of integer ``levels`` ``(B, N)`` in ``[0, bins)`` -> ``(B, bins)`` float64 counts."""
    bsz = levels.shape[0]
    if bsz == 1:  # no offsets needed
        return torch.bincount(levels.flatten(), minlength=bins).view(1, bins).to(torch.float64)
    offsets = torch.arange(bsz, device=levels.device).view(bsz, 1) * bins
    counts = torch.bincount((levels + offsets).flatten(), minlength=bsz * bins)
    return counts.view(bsz, bins).to(torch.float64)


def sobel3x3(x: Tensor, padding: str = "zeros") -> tuple[Tensor, Tensor]:
    """Separable Sobel: smoothing [1, 2, 1] across, difference [-1, 0, 1] along; 'same' size."""
    p = F.pad(x, (1, 1, 1, 1), mode="constant" if padding == "zeros" else padding)
    rows = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]  # vertical smoothing, (H, W + 2)
    gx = rows[..., 2:] - rows[..., :-2]
    cols = p[..., :, :-2] + 2 * p[..., :, 1:-1] + p[..., :, 2:]  # horizontal smoothing, (H + 2, W)
    gy = cols[..., 2:, :] - cols[..., :-2, :]
    return gx, gy


def ensure(cache: Intermediates | None, f: Tensor, a: Tensor, b: Tensor) -> Intermediates:
    """``cache`` itself, or a private one for a metric called on its own."""
    return cache if cache is not None else Intermediates(f, a, b)

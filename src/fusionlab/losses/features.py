"""How feature-reading loss terms get the model's features (the contract with FusionModule).

A term that sets ``needs_features = True`` reads, from the batch:

* ``features_a`` / ``features_b`` - the backbone pyramids of each source (``model.encode``), finest first;
* ``fused_features`` - the fused pyramid (``model.fuse``).

The module adds them only when some active term asks, so pixel-only objectives pay nothing. Features
are those of the padded input (the backbone's ``size_multiple``); terms must not assume they align
pixel-for-pixel with ``batch["a"]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

FEATURE_KEYS = ("features_a", "features_b", "fused_features")


def has_features(batch: Mapping, *keys: str) -> bool:
    """True when every requested feature list is present (default: both sources')."""
    return all(batch.get(k) is not None for k in (keys or FEATURE_KEYS[:2]))


def get_features(batch: Mapping, key: str, term: str) -> list[Tensor]:
    """The feature list ``batch[key]``, or a KeyError that names the term and the missing part."""
    feats = batch.get(key)
    if feats is None:
        raise KeyError(
            f"loss term {term!r} needs batch[{key!r}] (the model's features); FusionModule adds it when a term "
            "sets needs_features=True and the model provides forward_with_features(a, b)"
        )
    if isinstance(feats, Tensor):
        return [feats]
    return list(feats)

"""One declarative spec per data source, and the registry the DataModule resolves keys through.

A *source key* names what a config refers to: ``msrs``, ``harvard/PET-MRI``, ``synthetic/ivif`` ...
Real sources live under ``<data_dir>/<root>`` in their official layout; embedded sources (the
synthetic suite) need no files. In *embedded* data mode every real key is replaced by the synthetic
source of its task, so one experiment config runs on a fresh clone and on real data alike.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from fusionlab import TASKS
from fusionlab.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class BuildRequest:
    """What the DataModule asks of a source: which split, at which patch size, with which options."""

    data_dir: Path | None
    split: str  # "train" | "val" | "test"
    patch_size: int | None = None  # training crops; None = full images
    augment: bool = False
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSpec:
    """A dataset (or one group of a dataset, e.g. Harvard PET-MRI) that yields batch-contract samples."""

    key: str
    task: str
    build: Callable[[BuildRequest], Dataset]
    root: str | None = None  # folder under data_dir; None for embedded sources
    display_name: str = ""
    description: str = ""

    @property
    def embedded(self) -> bool:
        return self.root is None


SOURCES: dict[str, SourceSpec] = {}


def register(spec: SourceSpec) -> SourceSpec:
    """Add a spec to the registry (a later registration under the same key replaces the earlier one)."""
    if spec.task not in TASKS:
        raise ValueError(f"source {spec.key!r}: task must be one of {TASKS}, got {spec.task!r}")
    SOURCES[spec.key] = spec
    return spec


def get_source(key: str) -> SourceSpec:
    """The spec for ``key``; an unknown key lists the known ones."""
    _load_builtin_sources()
    if key not in SOURCES:
        raise UnknownNameError(f"unknown data source {key!r}; available: {', '.join(sorted(SOURCES))}")
    return SOURCES[key]


def embedded_counterpart(key: str) -> str:
    """The synthetic source standing in for ``key`` when no real data is configured."""
    spec = get_source(key)
    return key if spec.embedded else f"synthetic/{spec.task}"


def _synthetic_builder(task: str) -> Callable[[BuildRequest], Dataset]:
    def build(req: BuildRequest) -> Dataset:
        from fusionlab.data.synthetic import SyntheticFusionDataset

        opts = dict(req.options)
        eval_size = opts.pop("eval_size", 128)
        lengths = {"train": 512, "val": 8, "test": 8, **opts.pop("lengths", {})}
        # the test pairs are drawn with test_seed when it is set, whatever the run's seed, so that runs with
        # different seeds are scored on one suite (as the real data's splits ignore the run seed: split_seed)
        test_seed = opts.pop("test_seed", None)
        if test_seed is not None and (isinstance(test_seed, bool) or not isinstance(test_seed, int)):
            raise ConfigError(f"data.options.synthetic.test_seed must be an integer or null (the run's seed), "
                                  f"got {test_seed!r}")
        seed = test_seed if req.split == "test" and test_seed is not None else req.seed
        size = req.patch_size if req.split == "train" and req.patch_size else eval_size
        return SyntheticFusionDataset(task=task, size=size, length=lengths[req.split], seed=seed,
                                      split=req.split, **opts)

    return build


_BUILTINS_LOADED = False


def _load_builtin_sources() -> None:
    """Register the embedded synthetic sources and the real dataset specs (imported lazily)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for task in TASKS:
        register(SourceSpec(key=f"synthetic/{task}", task=task, build=_synthetic_builder(task),
                            display_name=f"synthetic {task.upper()}",
                            description=f"embedded procedural {task.upper()} pairs with ground truth"))
    try:
        importlib.import_module("fusionlab.data.datasets")  # registers the real dataset specs
    except ModuleNotFoundError as err:
        if err.name != "fusionlab.data.datasets":
            raise

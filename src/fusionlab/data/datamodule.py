"""The one DataModule: weighted training mix, held-out validation, and a named evaluation suite.

Sources are referenced by key (see :mod:`fusionlab.data.sources`). The data *mode* decides whether
keys mean real datasets under ``data_dir`` or their embedded synthetic stand-ins:

* ``real`` - every key must exist under ``data_dir``; a missing root is an error naming the path;
* ``synthetic`` - every real key is replaced by ``synthetic/<task>`` (duplicates merged);
* ``auto`` - ``real`` when ``data_dir`` holds the training sources' roots, else ``synthetic``, announced
  in the log. This is what lets one experiment run both on a fresh clone and on real data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler
from torch.utils.data._utils.collate import default_collate

from fusionlab.data.sampling import EpochWeightedSampler, ResumableDataLoader, SeededSamples
from fusionlab.data.sources import BuildRequest, embedded_counterpart, get_source
from fusionlab.errors import DataError

log = logging.getLogger(__name__)

MODES = ("auto", "real", "synthetic")


class DataConfigError(DataError):
    """A data setting that cannot work; the message names the key or path and how to fix it."""


def collate_samples(samples: list[dict]) -> dict:
    """Collate batch-contract dicts; keys that only some samples carry (e.g. chroma) are dropped."""
    common = set(samples[0])
    for s in samples[1:]:
        common &= set(s)
    return default_collate([{k: s[k] for k in common} for s in samples])


class TestShard(Dataset):
    """Rank ``r`` of ``n`` takes items ``r, r+n, ...``: every test image is evaluated exactly once.

    Lightning's default DistributedSampler pads shards with duplicates, which would count some images twice in a
    results table. A rank whose share is empty (fewer images than ranks) gets one copy of the first item marked
    ``padding``, which evaluation skips: Lightning skips a rank with no batches at all, and its peers would then
    wait for it in the metric sync.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int) -> None:
        self.dataset = dataset
        self.indices = list(range(rank, len(dataset), num_replicas))  # type: ignore[arg-type]
        self.padding = not self.indices and len(dataset) > 0  # type: ignore[arg-type]
        if self.padding:
            self.indices = [0]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        sample = self.dataset[self.indices[i]]
        return {**sample, "padding": True} if self.padding else sample


class InOrder(DistributedSampler):
    """Every item of an already-sharded dataset, in order. A DistributedSampler subclass only so that Lightning
    does not shard (and pad) the shard again."""

    def __init__(self, dataset: Dataset) -> None:  # noqa: D107 - no process group needed
        self.dataset, self.length = dataset, len(dataset)  # type: ignore[arg-type]

    def __iter__(self):
        return iter(range(self.length))

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        pass


def resolve_mode(mode: str, data_dir: str | Path | None, keys: Sequence[str]) -> str:
    """Decide ``real`` or ``synthetic`` for this run (see module docstring).

    ``auto`` means real data as soon as ``data_dir`` holds any of the requested datasets; from then on
    every requested dataset must be there, so a partial folder fails loudly instead of mixing modes.
    """
    if mode not in MODES:
        raise DataConfigError(f"data.mode must be one of {MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    roots = sorted({get_source(k).root for k in keys if not get_source(k).embedded})
    if not roots:
        return "synthetic"
    if data_dir is not None and any((Path(data_dir) / r).is_dir() for r in roots):
        return "real"
    log.warning(
        "data.mode=auto: none of %s found under paths.data_dir=%s; using the embedded synthetic suite "
        "(set paths.data_dir or FUSIONLAB_DATA to real data, or data.mode=real to require it)",
        ", ".join(roots), data_dir,
    )
    return "synthetic"


class FusionDataModule(L.LightningDataModule):
    """Builds train/val/test datasets from source keys; see the module docstring for the data modes."""

    def __init__(
        self,
        train: Sequence[dict[str, Any]],
        test: Sequence[str] = (),
        val: Sequence[str] | None = None,
        data_dir: str | Path | None = None,
        mode: str = "auto",
        patch_size: int = 64,
        batch_size: int = 8,
        eval_batch_size: int = 1,
        num_workers: int = 0,
        samples_per_epoch: int = 256,
        augment: bool = True,
        seed: int = 0,
        options: dict[str, dict[str, Any]] | None = None,
        min_val_images: int = 4,
    ) -> None:
        super().__init__()
        for i, entry in enumerate(train):
            if "source" not in entry:
                raise DataConfigError(f"data.train[{i}] needs a 'source' key, got {dict(entry)}")
            if float(entry.get("weight", 1.0)) <= 0:
                raise DataConfigError(f"data.train[{i}].weight must be > 0, got {entry.get('weight')}")
        for name, value in (("patch_size", patch_size), ("batch_size", batch_size),
                            ("samples_per_epoch", samples_per_epoch), ("eval_batch_size", eval_batch_size)):
            if int(value) < 1:
                raise DataConfigError(f"data.{name} must be >= 1, got {value}")
        if int(min_val_images) < 0:
            raise DataConfigError(f"data.min_val_images must be >= 0, got {min_val_images}")
        if num_workers < 0:
            raise DataConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        self.train_entries = [{"source": str(e["source"]), "weight": float(e.get("weight", 1.0))} for e in train]
        self.test_keys = [str(k) for k in test]
        self.val_keys = [str(k) for k in val] if val is not None else None
        self.data_dir = Path(data_dir) if data_dir not in (None, "") else None
        self.patch_size, self.batch_size, self.eval_batch_size = patch_size, batch_size, eval_batch_size
        self.num_workers, self.samples_per_epoch, self.augment, self.seed = num_workers, samples_per_epoch, augment, seed
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.min_val_images = int(min_val_images)
        all_keys = [e["source"] for e in self.train_entries] + self.test_keys + (self.val_keys or [])
        for key in all_keys:
            get_source(key)  # unknown keys fail here, listing the known ones
        self.mode = resolve_mode(mode, self.data_dir, all_keys)
        self._train: Dataset | None = None
        self._train_weights: torch.Tensor | None = None
        self._val: dict[str, Dataset] = {}
        self._test: dict[str, Dataset] = {}

    # -- key resolution ---------------------------------------------------------------------------
    def _map(self, keys: Sequence[str]) -> list[str]:
        mapped = [embedded_counterpart(k) if self.mode == "synthetic" else k for k in keys]
        return list(dict.fromkeys(mapped))  # de-duplicate, keep order

    def _build(self, key: str, split: str, patch_size: int | None, augment: bool) -> Dataset:
        spec = get_source(key)
        if not spec.embedded:
            if self.data_dir is None:
                raise DataConfigError(
                    f"{spec.display_name or key} needs real data but paths.data_dir is not set: "
                    "set paths.data_dir or FUSIONLAB_DATA"
                )
            root = self.data_dir / spec.root
            if not root.is_dir():
                raise DataConfigError(
                    f"{spec.display_name or key} not found at {root}: set paths.data_dir or FUSIONLAB_DATA "
                    f"(or use data.mode=synthetic for the embedded suite)"
                )
        opts = self.options.get("synthetic" if spec.embedded else "real", {})
        req = BuildRequest(self.data_dir, split, patch_size, augment, self.seed, opts)
        return spec.build(req)

    @property
    def train_keys(self) -> list[str]:
        return self._map([e["source"] for e in self.train_entries])

    @property
    def val_names(self) -> list[str]:
        return list(self._val)

    @property
    def test_names(self) -> list[str]:
        return list(self._test)

    def batches_per_epoch(self, world_size: int = 1) -> int:
        """Training batches per epoch on each rank (``drop_last``), without building the loader."""
        return max((self.samples_per_epoch // max(world_size, 1)) // self.batch_size, 0)

    def task_of(self, key: str) -> str:
        return get_source(key).task

    # -- Lightning hooks --------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self._train is None:
            if not self.train_entries:
                raise DataConfigError("data.train is empty: list at least one {source: KEY, weight: W}")
            weights: dict[str, float] = {}
            for e in self.train_entries:
                key = self._map([e["source"]])[0]
                weights[key] = weights.get(key, 0.0) + e["weight"]
            parts, per_sample = [], []
            for key, w in weights.items():
                ds = self._build(key, "train", self.patch_size, self.augment)
                if len(ds) == 0:
                    raise DataConfigError(f"training source {key!r} has no samples")
                parts.append(ds)
                per_sample.append(torch.full((len(ds),), w / len(ds), dtype=torch.double))
            self._train = SeededSamples(ConcatDataset(parts), self.seed)
            self._train_weights = torch.cat(per_sample)
        if stage in (None, "fit", "validate") and not self._val:
            val_keys = self._map(self.val_keys) if self.val_keys is not None else self.train_keys
            self._val = {k: self._build(k, "val", None, False) for k in val_keys}
            self._add_synthetic_validation()
        if stage in (None, "test") and not self._test:
            if not self.test_keys:
                raise DataConfigError("the evaluation suite is empty: set eval=<suite> or data.test=[KEY, ...]")
            self._test = {k: self._build(k, "test", None, False) for k in self._map(self.test_keys)}

    def _add_synthetic_validation(self) -> None:
        """A real validation split under ``min_val_images`` selects checkpoints on noise: the synthetic set of
        the same task (never a test image) is validated beside it."""
        for key, ds in list(self._val.items()):
            spec = get_source(key)
            if spec.embedded or len(ds) >= self.min_val_images:
                continue
            stand_in = embedded_counterpart(key)
            if stand_in not in self._val:
                log.info("validation: %s has %d image(s) (< data.min_val_images=%d); also validating on %s",
                         key, len(ds), self.min_val_images, stand_in)
                self._val[stand_in] = self._build(stand_in, "val", None, False)

    def _loader(self, ds: Dataset, batch_size: int, loader_cls: type[DataLoader] = DataLoader, **kw: Any) -> DataLoader:
        return loader_cls(
            ds, batch_size=batch_size, num_workers=self.num_workers, collate_fn=collate_samples,
            persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(), **kw,
        )

    def train_dataloader(self) -> DataLoader:
        assert self._train is not None and self._train_weights is not None, "call setup('fit') first"
        world, rank = 1, 0
        if dist.is_available() and dist.is_initialized():
            world, rank = dist.get_world_size(), dist.get_rank()
        sampler = EpochWeightedSampler(self._train_weights, self.samples_per_epoch, self.seed, world, rank)
        return self._loader(self._train, self.batch_size, ResumableDataLoader, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(ds, self.eval_batch_size) for ds in self._val.values()]

    def test_dataloader(self) -> list[DataLoader]:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            world, rank = dist.get_world_size(), dist.get_rank()
            shards = [TestShard(ds, world, rank) for ds in self._test.values()]
            return [self._loader(s, self.eval_batch_size, sampler=InOrder(s)) for s in shards]
        return [self._loader(ds, self.eval_batch_size) for ds in self._test.values()]

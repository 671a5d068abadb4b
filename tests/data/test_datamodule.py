"""The DataModule: data modes, weighted mixing, suites and configuration errors."""

from __future__ import annotations

import pytest
import torch

from fusionlab.data.datamodule import DataConfigError, FusionDataModule, collate_samples

SMALL = {"synthetic": {"eval_size": 32, "lengths": {"train": 16, "val": 2, "test": 3}}}


def _dm(**kw):
    args = {"train": [{"source": "synthetic/ivif"}], "test": ["synthetic/mef"], "patch_size": 24,
            "batch_size": 4, "samples_per_epoch": 8, "options": SMALL}
    args.update(kw)
    return FusionDataModule(**args)


def test_synthetic_loaders_follow_the_contract():
    dm = _dm()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["a"].shape == (4, 1, 24, 24) and batch["task"] == ["ivif"] * 4
    dm.setup("test")
    assert dm.test_names == ["synthetic/mef"]
    (loader,) = dm.test_dataloader()
    assert len(loader) == 3 and next(iter(loader))["a"].shape == (1, 1, 32, 32)


def test_synthetic_mode_maps_real_keys_to_their_task_and_merges_duplicates():
    dm = _dm(train=[{"source": "msrs"}], test=["msrs", "roadscene", "harvard/PET-MRI", "lytro"], mode="synthetic")
    dm.setup("test")
    assert dm.test_names == ["synthetic/ivif", "synthetic/mif", "synthetic/mff"]


def test_auto_mode_uses_real_data_only_when_it_is_there(tmp_path, data_dir):
    assert _dm(train=[{"source": "msrs"}], data_dir=tmp_path).mode == "synthetic"
    assert _dm(train=[{"source": "msrs"}], data_dir=None).mode == "synthetic"
    assert _dm(train=[{"source": "msrs"}], data_dir=data_dir).mode == "real"


def test_real_mode_without_data_names_the_path(tmp_path):
    dm = _dm(train=[{"source": "msrs"}], data_dir=tmp_path / "nowhere", mode="real")
    with pytest.raises(DataConfigError, match=r"MSRS not found at .*nowhere/msrs: set paths.data_dir or FUSIONLAB_DATA"):
        dm.setup("fit")


def test_weighted_mixing_draws_sources_in_proportion():
    dm = _dm(train=[{"source": "synthetic/ivif", "weight": 3.0}, {"source": "synthetic/mff", "weight": 1.0}],
             samples_per_epoch=400, batch_size=400, patch_size=16)
    dm.setup("fit")
    tasks = next(iter(dm.train_dataloader()))["task"]
    share = tasks.count("ivif") / len(tasks)
    assert 0.68 < share < 0.82


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train": [{"source": "msrs", "weight": -1}]}, r"data.train\[0\].weight must be > 0"),
        ({"train": [{"source": "nope"}]}, "unknown data source 'nope'; available: .*msrs"),
        ({"patch_size": 0}, "data.patch_size must be >= 1"),
        ({"mode": "maybe"}, "data.mode must be one of"),
    ],
)
def test_configuration_errors_name_the_key(kwargs, message):
    with pytest.raises((DataConfigError, KeyError), match=message):
        _dm(**kwargs)


def test_empty_training_list_fails_only_when_training():
    dm = _dm(train=[])
    dm.setup("test")
    with pytest.raises(DataConfigError, match="data.train is empty"):
        dm.setup("fit")


def test_collate_drops_keys_only_some_samples_have():
    s1 = {"a": torch.zeros(1, 2, 2), "cbcr_a": torch.zeros(2, 2, 2), "task": "mef"}
    s2 = {"a": torch.ones(1, 2, 2), "task": "ivif"}
    batch = collate_samples([s1, s2])
    assert set(batch) == {"a", "task"} and batch["a"].shape == (2, 1, 2, 2)

"""The embedded synthetic suite: contract, determinism and the physical invariants of each task."""

from __future__ import annotations

import pytest
import torch

from fusionlab import TASKS
from fusionlab.data.synthetic import SyntheticFusionDataset


@pytest.mark.parametrize("task", TASKS)
def test_batch_contract(task):
    s = SyntheticFusionDataset(task, size=48, length=3, split="test")[1]
    assert s["task"] == task and s["dataset"] == f"synthetic/{task}" and s["name"] == f"{task}_test_0001"
    for key in ("a", "b", "target"):
        assert s[key].shape == (1, 48, 48) and s[key].dtype == torch.float32
        assert 0.0 <= float(s[key].min()) and float(s[key].max()) <= 1.0
    for key in ("cbcr_a", "cbcr_b"):
        if key in s:
            assert s[key].shape == (2, 48, 48)


@pytest.mark.parametrize("task", TASKS)
def test_deterministic_and_split_dependent(task):
    x = SyntheticFusionDataset(task, size=32, length=2, seed=3, split="train")[1]
    y = SyntheticFusionDataset(task, size=32, length=2, seed=3, split="train")[1]
    z = SyntheticFusionDataset(task, size=32, length=2, seed=3, split="test")[1]
    assert torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"]) and torch.equal(x["target"], y["target"])
    assert not torch.equal(x["a"], z["a"])


def test_colour_where_the_task_has_it():
    assert "cbcr_b" in SyntheticFusionDataset("ivif", size=32)[0] and "cbcr_a" not in SyntheticFusionDataset("ivif", size=32)[0]
    for task in ("mef", "mff"):
        s = SyntheticFusionDataset(task, size=32)[0]
        assert "cbcr_a" in s and "cbcr_b" in s
    # PET/SPECT renderings are pseudo-colour: some MIF samples carry visible chroma on b
    samples = list(SyntheticFusionDataset("mif", size=48, length=12))
    chroma = [float((s["cbcr_b"] - 0.5).abs().max()) for s in samples if "cbcr_b" in s]
    assert chroma and max(chroma) > 0.1
    assert any("cbcr_b" not in s for s in samples)  # CT renderings are gray


def test_mef_exposures_are_ordered():
    for s in SyntheticFusionDataset("mef", size=48, length=6):
        assert bool((s["a"] <= s["b"] + 1e-5).all())
        assert float(s["a"].mean()) < float(s["b"].mean()) - 0.1


def test_mff_target_equals_the_in_focus_source_where_the_mask_is_sharp():
    ds = SyntheticFusionDataset("mff", size=64, length=4)
    for s in ds:
        diff_a = (s["a"] - s["target"]).abs()
        diff_b = (s["b"] - s["target"]).abs()
        # every pixel is in focus in one source (mask 0 or 1) except along the soft transition band
        in_focus = torch.minimum(diff_a, diff_b) < 1e-5
        assert float(in_focus.float().mean()) > 0.6
        # and each source is sharp somewhere and blurred elsewhere (complementary defocus)
        assert float((diff_a < 1e-5).float().mean()) > 0.05 and float((diff_b < 1e-5).float().mean()) > 0.05


def test_ivif_targets_are_warm_in_ir_and_dark_in_visible():
    for s in SyntheticFusionDataset("ivif", size=64, length=4):
        hot = s["a"] > 0.7
        assert bool(hot.any())
        assert float(s["b"][hot].mean()) < float(s["a"][hot].mean()) - 0.3
        # the target keeps the heat of the targets
        assert float(s["target"][hot].mean()) > 0.6


def test_mif_target_is_the_brighter_modality():
    for s in SyntheticFusionDataset("mif", size=48, length=4):
        assert float((s["target"] + 0.1 - torch.maximum(s["a"], s["b"])).min()) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="task"):
        SyntheticFusionDataset("rgbt")
    with pytest.raises(ValueError, match="size"):
        SyntheticFusionDataset("ivif", size=4)
    with pytest.raises(IndexError):
        SyntheticFusionDataset("ivif", size=32, length=2)[2]


def test_test_suite_is_fixed_across_run_seeds():
    """``data.options.synthetic.test_seed`` (42 in conf/data/synthetic.yaml): the test pairs do not change with the
    run's seed, so seeds are compared on one suite, while validation and training pairs still follow it; null
    restores the run's seed; anything but an integer is refused by its key."""
    from fusionlab.data.sources import BuildRequest, get_source
    from fusionlab.errors import ConfigError

    def first(split: str, seed: int, **options) -> torch.Tensor:
        opts = {"eval_size": 32, "lengths": {"train": 1, "val": 1, "test": 1}, **options}
        return get_source("synthetic/mif").build(BuildRequest(data_dir=None, split=split, seed=seed,
                                                               options=opts))[0]["a"]

    assert torch.equal(first("test", 2, test_seed=42), first("test", 3, test_seed=42))
    assert torch.equal(first("test", 7, test_seed=42), first("test", 42))  # the suite of the default seed
    assert not torch.equal(first("test", 2, test_seed=None), first("test", 3, test_seed=None))
    assert not torch.equal(first("val", 2, test_seed=42), first("val", 3, test_seed=42))
    for bad in ("42", 4.2, True):
        with pytest.raises(ConfigError, match="data.options.synthetic.test_seed"):
            first("test", 2, test_seed=bad)

"""Distributed evaluation on CPU (gloo): same table as one process, every image exactly once."""

from __future__ import annotations

import csv

import pytest

from fusionlab.engine.run import run_training

BASE = ("+debug=fast", "data.mode=synthetic", "logger=csv", "trainer.precision=32", "eval.metrics=[EN,SD,SF,AG,SSIM,Qabf]",
        "data.options.synthetic.lengths.test=3", "eval.save_fused=false")


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_two_process_gloo_evaluation_matches_one_process(compose, tmp_path):
    trained = run_training(compose(*BASE, output_dir=tmp_path / "train"))
    ckpt = trained["ckpt_path"]
    single = compose(*BASE, "train=false", f"ckpt_path={ckpt}", output_dir=tmp_path / "one")
    run_training(single)
    ddp = compose(*BASE, "train=false", f"ckpt_path={ckpt}", "trainer=ddp_spawn", "trainer.accelerator=cpu",
                  "trainer.devices=2", output_dir=tmp_path / "two")
    run_training(ddp)
    one, two = _rows(tmp_path / "one" / "results.csv"), _rows(tmp_path / "two" / "results.csv")
    # 3 images per dataset on 2 ranks: uneven shards, yet every image appears once
    assert len(one) == len(two) == 4 * 3
    assert [(r["dataset"], r["image"]) for r in one] == [(r["dataset"], r["image"]) for r in two]
    for r1, r2 in zip(one, two):
        for key in r1:
            if key not in ("method", "dataset", "task", "image"):
                assert abs(float(r1[key]) - float(r2[key])) <= 1e-6 * max(1.0, abs(float(r1[key]))), key

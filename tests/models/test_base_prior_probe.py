"""experiments/base_prior_probe.py (behind docs/quality.md's base priors tried for PET-MRI) rebuilds the untrained
head exactly, and runs as documented on real pairs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.engine.evaluation import score
from fusionlab.engine.validation import QUALITY_KEY, QUALITY_METRICS, ValidationScores
from fusionlab.models import FusionNet
from fusionlab.models.backbones.cnn import DenseCNN

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "base_prior_probe.py"
sys.path.insert(0, str(SCRIPT.parent))
from base_prior_probe import QUALITY_METRICS as PROBE_METRICS  # noqa: E402
from base_prior_probe import VARIANTS, two_scale_priors, validation_quality  # noqa: E402


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 48, 48, generator=g)
    b = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 48, 48, generator=g), 5, 1, 2) * 0.5 + 0.3
    return a, b


@pytest.mark.parametrize(("radius", "coarse", "in_range", "floor", "weight_radius"),
                         [(3, None, False, 0.0, None), (7, None, False, 0.0, None), (7, 16, False, 0.0, None),
                          (7, 64, False, 0.0, None), (7, 16, True, 0.0, None), (7, 64, True, 0.0, None),
                          (7, 64, True, 3e-4, None), (7, 64, True, 0.0, 7), (7, None, False, 0.0, 5)])
def test_default_variant_is_the_silent_two_scale_head(radius, coarse, in_range, floor, weight_radius):
    """The probe's rules are the model's: one band (``default``), two bands (``coarse_blend_64``,
    ``model.base_coarse_radius=64``; 64 is wider than this pair: replicated edges) and two bands kept in the base
    layers' range (``coarse_blend_64_in_range``, the default recipe's ``model.base_in_range=true``), also with the
    activity floor of ``model.base_prior_floor`` (``base_floor``, the ad hoc activity probe's) and with the base
    weights averaged over a box before they blend the base layers (``coarse_blend_64_in_range_w7``,
    ``model.base_weight_radius``; with one band too)."""
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=radius, base_prior=20.0,
                    detail_prior=20.0, learn_base_blend=False, base_coarse_radius=coarse,
                    base_in_range=in_range, base_prior_floor=floor, base_weight_radius=weight_radius).eval()
    torch.nn.init.zeros_(net.decoder.head[-1].weight)  # logits and correction exactly 0: the priors alone
    a, b = _pair()
    if coarse:  # a dark and b bright, structure switching source half-way: the base weights switch, the band acts
        a, b = 0.4 * torch.cat((a[..., :24], b[..., 24:]), -1), 0.5 + 0.4 * torch.cat((b[..., :24], a[..., 24:]), -1)
        assert (two_scale_priors(a, b, radius=radius, coarse_radius=coarse) - two_scale_priors(a, b, radius=radius)
                ).abs().max() > 0.01
    with torch.no_grad():
        expected = net(a, b)
    got = two_scale_priors(a, b, radius=radius, coarse_radius=coarse or 0, in_range=in_range, base_floor=floor,
                           weight_radius=weight_radius or 0)
    assert torch.allclose(got, expected, atol=1e-5)


def test_variants_are_different_rules():
    # a: large, smooth contrast (a base-layer structure); b: fine, weak texture (detail activity)
    g = torch.Generator().manual_seed(1)
    a = torch.nn.functional.interpolate(torch.rand(1, 1, 4, 4, generator=g), size=(64, 64), mode="bilinear")
    b = 0.5 + 0.05 * torch.rand(1, 1, 64, 64, generator=g)
    default = VARIANTS["default"](a, b)
    for name, fn in VARIANTS.items():
        if name != "default":
            assert (fn(a, b) - default).abs().max() > 1e-3, name


def test_documented_command_runs_on_real_pairs(data_dir, tmp_path):
    readme = (REPO / "docs" / "quality.md").read_text()
    assert "python experiments/base_prior_probe.py" in readme
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(data_dir), "--datasets", "harvard/PET-MRI", "--pairs", "1"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"^\| harvard/PET-MRI \| (\w+) \| (\d) \| (\d) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == list(VARIANTS)
    assert all(0 <= int(n) <= 8 for r in rows for n in r[1:])


def test_validation_score_is_the_training_selection_criterion():
    """--validation ranks the priors by what checkpoint selection reads: val/quality as ValidationScores computes it
    (the default variant fed through the engine's own scorer gives the same number)."""
    assert PROBE_METRICS == QUALITY_METRICS
    key = "synthetic/mff"
    probe = validation_quality(Path("unused"), keys=(key,))
    assert set(probe) == set(VARIANTS) and probe["default"]["mean"] == pytest.approx(probe["default"][key])

    scores = ValidationScores(QUALITY_METRICS, convention="cddfuse")
    scores.start([key], torch.device("cpu"))
    ds = get_source(key).build(BuildRequest(data_dir=None, split="val"))
    for i in range(len(ds)):
        sample = ds[i]
        batch = {"a": sample["a"][None].float(), "b": sample["b"][None].float()}
        fused = VARIANTS["default"](batch["a"], batch["b"])
        scores.update(key, fused, batch, score(fused, batch, QUALITY_METRICS, "cddfuse"), None)
    assert probe["default"]["mean"] == pytest.approx(scores.compute(with_loss=False)[QUALITY_KEY], abs=1e-4)
    assert len({round(v["mean"], 4) for v in probe.values()}) > 1  # the variants are told apart


def test_documented_validation_command_runs(data_dir, tmp_path):
    assert "python experiments/base_prior_probe.py --validation --data-dir" in (REPO / "docs" / "quality.md").read_text()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--validation", "--data-dir", str(data_dir)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| variant | val/quality | msrs | synthetic/ivif |" in out.stdout
    rows = re.findall(r"^\| (\w+) \| (\d+\.\d{4}) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == list(VARIANTS)
    assert all(0.5 < float(r[1]) < 2.0 for r in rows)  # ratios to averaging: near 1, not NaN or a count


def test_ad_hoc_probes_run_as_documented():
    """The ad hoc probes docs/quality.md cites share run_ad_hoc: their ``psnr`` mode (synthetic validation pairs
    only, no data needed) prints one row per task with every variant and rule."""
    doc = (REPO / "docs" / "quality.md").read_text()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    for script, variants in (("activity_probe.py", 4), ("guided_weights_probe.py", 6), ("coarse_radius_probe.py", 8),
                             ("exposure_gate_probe.py", 2), ("coarse_brightness_probe.py", 6),
                             ("brighter_base_probe.py", 2), ("detail_window_probe.py", 6),
                             ("detail_prior_probe.py", 5)):
        path = SCRIPT.parent / "results" / "base_prior_probe" / script
        assert f"python experiments/results/base_prior_probe/{script} psnr|val|test" in doc
        out = subprocess.run([sys.executable, str(path), "psnr"], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        rows = re.findall(r"^\| (synthetic/\w+) \|(.*)\|$", out.stdout, re.M)
        assert [r[0] for r in rows] == ["synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"]
        assert all(len(r[1].split("|")) == variants + 3 for r in rows)  # + average, max, gff
        assert all(5 < float(v) < 60 for r in rows for v in r[1].split("|"))
        if script == "coarse_radius_probe.py":
            # what the default's radius rests on: on the 128-px validation pairs the ground truth prefers a wider
            # coarse band up to 128 (exposure pairs most) and cannot tell 128 from wider ones
            psnr = {task: [float(v) for v in cells.split("|")] for task, cells in rows}
            radii = (24, 32, 48, 64, 96, 128, 192, 4096)
            mef = dict(zip(radii, psnr["synthetic/mef"], strict=False))
            assert mef[128] > mef[64] + 1.0
            assert all(psnr[t][radii.index(128)] == psnr[t][radii.index(4096)] for t in psnr)
        if script == "exposure_gate_probe.py":
            # what docs/quality.md reads: the gate changes only exposure pairs, and there it no longer helps
            psnr = {task: [float(v) for v in cells.split("|")] for task, cells in rows}
            assert psnr["synthetic/mef"][1] < psnr["synthetic/mef"][0]
            assert all(psnr[t][0] == psnr[t][1] for t in ("synthetic/mif", "synthetic/mff"))
        if script == "coarse_brightness_probe.py":
            # what docs/quality.md reads: each share of the coarse band given to the brighter source lifts synthetic
            # IVIF towards the max rule, and leaves the focus pairs (equally bright sources) where they were
            psnr = {task: [float(v) for v in cells.split("|")] for task, cells in rows}
            ivif = psnr["synthetic/ivif"][:6]
            assert all(x < y for x, y in zip(ivif, ivif[1:], strict=False)) and ivif[4] > ivif[0] + 1.0
            assert max(psnr["synthetic/mff"][:6]) - min(psnr["synthetic/mff"][:6]) < 0.05
        if script == "brighter_base_probe.py":
            # what docs/quality.md reads: following the brighter base layer gains on MIF over the default's priors
            # yet stays far below the max rule (columns: brighter_base, brighter_pixel, average, max, gff)
            psnr = {task: [float(v) for v in cells.split("|")] for task, cells in rows}
            mif = psnr["synthetic/mif"]
            assert mif[3] > max(mif[0], mif[1]) + 10.0 and min(mif[0], mif[1]) > mif[4]
            assert max(psnr["synthetic/mef"][:2]) < psnr["synthetic/mef"][2] - 3.0  # exposure pairs: far below averaging
        if script == "detail_window_probe.py":
            # what docs/quality.md reads: the focus pairs' ground truth prefers a narrower detail window than the
            # default's radius 7 (columns: default, radius 2, 3, 4, 5, 10)
            mff = [float(v) for v in dict(rows)["synthetic/mff"].split("|")]
            assert mff[2] > mff[0] + 0.5 and mff[5] < mff[0]
        if script == "detail_prior_probe.py":
            # what docs/quality.md reads: the focus pairs' ground truth prefers the default's sharp power (20), and
            # falls with every softer one; MIF's leans the other way (columns: 20, 10, 6, 4, 2)
            psnr = {task: [float(v) for v in cells.split("|")] for task, cells in rows}
            mff, mif = psnr["synthetic/mff"][:5], psnr["synthetic/mif"][:5]
            assert all(x > y for x, y in zip(mff, mff[1:], strict=False)) and mff[0] > mff[4] + 2.0
            assert mif[4] > mif[0]


def test_psnr_mode_scores_more_validation_pairs_when_asked():
    """``psnr --pairs N`` (docs/quality.md reads the coarse radius on 64): the draw grows, the suite's own 8
    validation pairs come first, and a count below one is refused with its name."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    path = SCRIPT.parent / "results" / "base_prior_probe" / "coarse_radius_probe.py"
    assert "python experiments/results/base_prior_probe/coarse_radius_probe.py psnr --pairs 64" in (
        REPO / "docs" / "quality.md").read_text()
    outs = {}
    for pairs in ([], ["--pairs", "8"], ["--pairs", "2"]):
        proc = subprocess.run([sys.executable, str(path), "psnr", *pairs], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[" ".join(pairs)] = dict(re.findall(r"^\| (synthetic/\w+) \|(.*)\|$", proc.stdout, re.M))
    assert list(outs["--pairs 2"]) == ["synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"]
    assert outs[""] == outs["--pairs 8"]  # the default is 8 pairs, as many as a run validates on
    assert outs["--pairs 2"] != outs["--pairs 8"]
    bad = subprocess.run([sys.executable, str(path), "psnr", "--pairs", "0"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and "--pairs must be at least 1" in bad.stderr


def test_write_makes_the_committed_table_whole(data_dir, tmp_path):
    """``--write PATH`` is how results/base_prior_probe/table.md is made: both tables, with the command that made
    them, in one file (it was once assembled by hand and lost a row); a failing run leaves the file as it was."""
    assert "--write\nexperiments/results/base_prior_probe/table.md" in (REPO / "docs" / "quality.md").read_text()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    out = tmp_path / "table.md"
    args = ["--data-dir", str(data_dir), "--datasets", "lytro", "--pairs", "1", "--write", str(out)]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert f"Generated by `python experiments/base_prior_probe.py {' '.join(args)}`" in text
    assert [r for r in re.findall(r"^\| lytro \| (\w+) \|", text, re.M)] == list(VARIANTS)
    assert [r for r in re.findall(r"^\| (\w+) \| \d+\.\d{4} \|", text, re.M)] == list(VARIANTS)
    synthetic = dict(re.findall(r"^\| (synthetic/\w+) \|(.*)\|$", text.split("ground truth, PSNR_gt")[1], re.M))
    assert list(synthetic) == ["synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"]
    assert all(len(cells.split("|")) == len(VARIANTS) + 3 for cells in synthetic.values())
    assert "on 64 synthetic validation pairs per task" in text
    assert not list(tmp_path.glob("*.partial"))
    bad = subprocess.run([sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "nowhere"), "--write", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "nowhere" in bad.stderr and "FUSIONLAB_DATA" in bad.stderr
    assert out.read_text() == text


def test_synthetic_mode_refuses_an_empty_draw():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--synthetic", "0"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"})
    assert proc.returncode != 0 and "--synthetic must be at least 1 pair" in proc.stderr


def test_synthetic_mode_runs_as_documented():
    """docs/quality.md's ``python experiments/base_prior_probe.py --synthetic 64``, with fewer pairs (size only):
    every variant and rule per task; ``--seed`` draws other pairs."""
    assert "`python experiments/base_prior_probe.py --synthetic 64`" in (REPO / "docs" / "quality.md").read_text()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    tables = []
    for seed in ("0", "1"):
        proc = subprocess.run([sys.executable, str(SCRIPT), "--synthetic", "2", "--seed", seed], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = dict(re.findall(r"^\| (synthetic/\w+) \|(.*)\|$", proc.stdout, re.M))
        assert list(rows) == ["synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"]
        assert all(len(cells.split("|")) == len(VARIANTS) + 3 for cells in rows.values())
        tables.append(rows)
    assert tables[0] != tables[1]

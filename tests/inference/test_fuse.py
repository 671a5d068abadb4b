"""`fusionlab.fuse`: own pairs from files or folders, real data, colour, tiling, and bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionlab.color import rgb_to_ycbcr
from fusionlab.config import compose
from fusionlab.data.io import read_image
from fusionlab.inference import InputError, find_pairs, fuse_luminance, load_model, resolve_task, run_fuse
from fusionlab.inference.runner import FuseOptions, fuse_pairs

REPO = Path(__file__).resolve().parents[2]


def fuse_cfg(tmp_path: Path, *overrides: str):
    return compose(["progress=false", "device=cpu", *overrides], config_name="fuse", output_dir=tmp_path / "hydra")


def test_msrs_folders_with_checkpoint(checkpoint, data_dir, tmp_path):
    test = data_dir / "msrs" / "test"
    report = run_fuse(fuse_cfg(tmp_path, f"ckpt_path={checkpoint}", f"a={test / 'ir'}", f"b={test / 'vi'}",
                               f"out={tmp_path / 'out'}"))
    assert report.ok and len(report.fused) == 11
    assert report.task == "ivif"  # inferred from the checkpoint's data.train (msrs)
    for name in report.fused:
        img = np.asarray(Image.open(tmp_path / "out" / f"{name}.png"))
        assert img.shape == (480, 640, 3)  # source size, colour from the visible image
        assert np.abs(img[..., 0].astype(int) - img[..., 2]).mean() > 1
    assert set(report.timings) == {"decode", "model", "encode"} and all(v > 0 for v in report.timings.values())
    assert "fused 11 pair(s), skipped 0" in report.summary()


def test_harvard_pet_keeps_pet_chroma(checkpoint, data_dir, tmp_path):
    pet = data_dir / "harvard" / "PET-MRI"
    report = run_fuse(fuse_cfg(tmp_path, f"ckpt_path={checkpoint}", f"a={pet / 'MRI'}", f"b={pet / 'PET'}",
                               f"out={tmp_path / 'out'}", "task=mif",
                               "preview=true"))
    assert report.ok and len(report.fused) == 5 and report.task == "mif"
    for name in report.fused:
        fused = read_image(tmp_path / "out" / f"{name}.png")
        source = read_image(pet / "PET" / f"{name}.png")
        assert fused.shape == source.shape == (256, 256, 3)
        cc_f = rgb_to_ycbcr(torch.from_numpy(fused).permute(2, 0, 1))[1:]
        cc_s = rgb_to_ycbcr(torch.from_numpy(source).permute(2, 0, 1))[1:]
        assert float((cc_s - 0.5).abs().mean()) > 0.02  # PET is pseudo-colour ...
        # ... and the fused image carries its chroma (8-bit rounding and RGB clamping aside)
        assert float((cc_f - cc_s).abs().mean()) < 0.02
        assert Image.open(tmp_path / "out" / "previews" / f"{name}.png").size == (3 * 256 + 2 * 4, 256)  # a|b|fused


def test_lytro_files_and_single_folder(data_dir, tmp_path):
    lytro = data_dir / "lytro"
    report = run_fuse(fuse_cfg(tmp_path, "method=average", f"a={lytro / 'lytro-01-A.jpg'}",
                               f"b={lytro / 'lytro-01-B.jpg'}", f"out={tmp_path / 'one'}"))
    assert report.fused == ["lytro-01"] and report.task is None
    assert np.asarray(Image.open(tmp_path / "one" / "lytro-01.png")).shape == (520, 520, 3)
    # one folder of <id>-A/<id>-B files (b omitted): the Lytro pairing rule of the dataset
    pairs, problems = find_pairs(lytro)
    assert [p.name for p in pairs][:2] == ["lytro-01", "lytro-03"] and len(pairs) == 10 and not problems


def test_mixed_folder_fuses_good_pairs_and_reports_bad(data_dir, tmp_path):
    """Through the CLI: good pairs fused, every bad one named with its reason, exit code 1."""
    src = data_dir / "harvard" / "PET-MRI"
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    shutil.copytree(src / "MRI", a_dir)
    shutil.copytree(src / "PET", b_dir)
    (b_dir / "25071.png").unlink()  # missing partner
    Image.open(src / "PET" / "30039.png").resize((128, 128)).save(b_dir / "30039.png")  # size mismatch
    (a_dir / "30096.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # unreadable
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run(
        [sys.executable, "-m", "fusionlab.fuse", "method=max", f"a={a_dir}", f"b={b_dir}", f"out={tmp_path / 'out'}",
         f"hydra.run.dir={tmp_path / 'hydra'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["25015.png", "41061.png"]
    out = proc.stdout
    assert "fused 2 pair(s), skipped 3" in out and "pairs/s" in out
    assert "unpaired: no file named 25071.*" in out
    assert "size mismatch inside the pair: 30039.png is 256x256, 30039.png is 128x128" in out
    assert "unreadable image" in out and "30096.png" in out
    assert "pair/s" in proc.stderr  # the progress bar


def test_tiled_equals_untiled_on_a_real_image(checkpoint, data_dir):
    model = load_model(checkpoint).model
    ir = torch.from_numpy(read_image(data_dir / "msrs" / "test" / "ir" / "00004N.png"))[None, None]
    vi = torch.from_numpy(read_image(data_dir / "msrs" / "test" / "vi" / "00004N.png")).permute(2, 0, 1)
    vi = rgb_to_ycbcr(vi)[None, :1]
    full = fuse_luminance(model, ir, vi, tile_size=None)
    tiled = fuse_luminance(model, ir, vi, tile_size=200, tile_overlap=64, multiple=model.size_multiple)
    assert tiled.shape == full.shape == (1, 1, 480, 640)
    assert float((tiled - full).abs().max()) < 1e-4


def test_tiles_of_the_shipped_model_match_the_whole_image(data_dir):
    """The default recipe's two-band base blend reaches 163 px (2·7 + 21 + 128), beyond the 64 px margin that suffices
    for the network: fusion widens the margin to the model's ``context_radius``, so the seams do not show."""
    from fusionlab.models.tiling import tiled_fuse
    from fusionlab.pretrained import WEIGHTS_DIR

    model = load_model(WEIGHTS_DIR / "fusionnet_ivif.pt").model
    assert model.context_radius == 163
    ir = torch.from_numpy(read_image(data_dir / "msrs" / "test" / "ir" / "00004N.png"))[None, None]
    vi = torch.from_numpy(read_image(data_dir / "msrs" / "test" / "vi" / "00004N.png")).permute(2, 0, 1)
    a, b = ir.float(), rgb_to_ycbcr(vi)[None, :1].float()
    with torch.no_grad():
        full = model(a, b)
        narrow = tiled_fuse(model, a, b, 200, 64, model.size_multiple)  # the margin alone, not widened
    tiled = fuse_luminance(model, ir, rgb_to_ycbcr(vi)[None, :1], tile_size=200, tile_overlap=64,
                           multiple=model.size_multiple)
    assert float((narrow - full).abs().max()) > 1e-3  # the seams the margin alone leaves
    assert float((tiled - full.clamp(0, 1)).abs().max()) < 1e-4


def test_16bit_input_fuses_like_8bit(data_dir, tmp_path):
    ir8 = np.asarray(Image.open(data_dir / "msrs" / "test" / "ir" / "00012N.png"))
    (tmp_path / "a16").mkdir()
    Image.fromarray(ir8.astype(np.uint16) * 257).save(tmp_path / "a16" / "00012N.png")  # 16-bit gray PNG
    assert Image.open(tmp_path / "a16" / "00012N.png").mode.startswith("I;16")
    vi = data_dir / "msrs" / "test" / "vi" / "00012N.png"
    for tag, a in (("8", data_dir / "msrs" / "test" / "ir" / "00012N.png"), ("16", tmp_path / "a16" / "00012N.png")):
        pairs, problems = find_pairs(a, vi)
        assert not problems
        fuse_pairs(load_model(method="average").model, pairs, tmp_path / tag, options=FuseOptions(progress=False))
    out8 = np.asarray(Image.open(tmp_path / "8" / "00012N.png")).astype(int)
    out16 = np.asarray(Image.open(tmp_path / "16" / "00012N.png")).astype(int)
    assert np.abs(out8 - out16).max() <= 1


def test_usage_errors(checkpoint, data_dir, tmp_path):
    ir = data_dir / "msrs" / "test" / "ir"
    vi = data_dir / "msrs" / "test" / "vi"
    (tmp_path / "file").write_text("x")
    cases = [
        ((f"ckpt_path={checkpoint}", "method=average", f"a={ir}", f"b={vi}", f"out={tmp_path / 'o'}"),
         "exactly one of ckpt_path"),
        (("method=average", f"b={vi}", f"out={tmp_path / 'o'}"), "a= is required"),
        (("method=average", f"a={ir}", f"b={vi}", f"out={tmp_path / 'file' / 'sub'}"), "not writable"),
        (("method=average", f"a={ir}", f"b={vi}", f"out={ir}"), "input folder"),
        (("method=average", f"a={ir}", f"b={vi / '00004N.png'}", f"out={tmp_path / 'o'}"), "both be files or"),
        (("method=average", f"a={tmp_path / 'nope'}", f"b={vi}", f"out={tmp_path / 'o'}"), "does not exist"),
        (("method=average", f"a={ir}", f"b={vi}", f"out={tmp_path / 'o'}", "task=video"), "task must be one of"),
    ]
    for overrides, message in cases:
        with pytest.raises(InputError, match=message):
            run_fuse(fuse_cfg(tmp_path, *overrides))
    with pytest.raises(InputError, match="unknown method 'nope'; available: average"):
        load_model(method="nope")


def test_incompatible_checkpoint(checkpoint, tmp_path):
    from omegaconf import OmegaConf

    run = tmp_path / "run"
    shutil.copytree(checkpoint.parents[1], run)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    cfg.model.backbone.width = 16  # the weights are width 4
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    with pytest.raises(InputError, match=r"does not match the model config .*differ in shape, e.g. size "
                                         r"mismatch for backbone.stem.0.weight.*was edited or belongs to another run"):
        load_model(run / "checkpoints" / "last.ckpt")
    (run / ".hydra" / "config.yaml").unlink()  # no run config: the default model (width 16) is tried
    with pytest.raises(InputError, match="pass the one it was trained with"):
        load_model(run / "checkpoints" / "last.ckpt", fallback_model_cfg=cfg.model)


def test_task_inference(checkpoint):
    run_cfg = load_model(checkpoint).run_cfg
    assert resolve_task(None, run_cfg) == "ivif"
    assert resolve_task("MEF", run_cfg) == "mef"  # a hint wins (zero-shot)
    assert resolve_task(None, None) is None


def test_method_name_comes_from_the_checkpoint_not_this_process(checkpoint, tmp_path):
    """A checkpoint carries its method name (and model config); an old one without it falls back to its run
    config, and to the file name when that name only resolved inside the original run."""
    from omegaconf import OmegaConf

    run = tmp_path / "run"
    shutil.copytree(checkpoint.parents[1], run)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    cfg.method_name = "fusionnet-${hydra:runtime.choices.model/backbone}"  # as Hydra saves it: unresolved
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    assert load_model(run / "checkpoints" / "last.ckpt").name == "last"
    ckpt["fusionlab"] = {"model": OmegaConf.to_container(cfg.model), "method_name": "fusionnet-cnn-small"}
    torch.save(ckpt, run / "checkpoints" / "last.ckpt")
    assert load_model(run / "checkpoints" / "last.ckpt").name == "fusionnet-cnn-small"


def test_a_pair_the_model_refuses_is_skipped(data_dir, tmp_path):
    """A model's ValueError for one input (e.g. below its minimum size) skips that pair, not the run."""

    class Picky(torch.nn.Module):
        def forward(self, a, b):
            if a.shape[-1] > 300:
                raise ValueError(f"image of {a.shape[-1]}x{a.shape[-2]} is too large for this test model")
            return torch.maximum(a, b)

    pairs, _ = find_pairs(data_dir / "harvard" / "PET-MRI" / "MRI", data_dir / "harvard" / "PET-MRI" / "PET")
    lytro, _ = find_pairs(data_dir / "lytro" / "lytro-01-A.jpg", data_dir / "lytro" / "lytro-01-B.jpg")
    report = fuse_pairs(Picky(), [*pairs[:2], *lytro], tmp_path / "out", options=FuseOptions(progress=False))
    assert len(report.fused) == 2 and [p.where for p in report.skipped] == ["lytro-01"]
    assert "too large for this test model" in report.skipped[0].message

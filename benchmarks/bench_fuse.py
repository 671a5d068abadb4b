"""Throughput of ``python -m fusionlab.fuse`` for the default CNN checkpoint, and where the time goes.

    python benchmarks/bench_fuse.py [--data-dir ../shared/data] [--repeats 2] [--threads 2]

Runs the real fuse path (``fusionlab.inference.fuse_pairs``: decode into the batch contract, fuse
luminance, restore colour, write PNG) on real pairs: MSRS test (640x480) and M3FD (1024x768), and
prints pairs/s with the share spent in decode, model and encode. Weights do not change the cost, so the
default FusionNet (``conf/model``, CNN width 16) is built fresh and saved as a checkpoint with its run
config, exactly as a training run leaves it. Extra rows: bf16 autocast, and the model alone in
channels-last layout, two cheap wins on CPUs (DESIGN §9).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as the entry points set it (fusionlab.cli); before torch

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SETS = {"640x480": ("msrs/test/ir", "msrs/test/vi"), "1024x768": ("m3fd/M3FD_Fusion/Ir", "m3fd/M3FD_Fusion/Vis")}


def default_checkpoint(root: Path, *overrides: str) -> Path:
    """The default model (``conf/model``) saved like a run: checkpoints/last.ckpt + .hydra/config.yaml."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from fusionlab.config import compose

    cfg = compose(["data=ivif", *overrides], output_dir=root)
    model = instantiate(cfg.model)
    ckpt = root / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    (root / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(cfg, root / ".hydra" / "config.yaml")
    return ckpt


def bench(ckpt: Path, data_dir: Path, size: str, repeats: int, out: Path, precision: str = "32") -> dict:
    from fusionlab.inference import find_pairs, fuse_pairs, load_model
    from fusionlab.inference.runner import FuseOptions

    a_dir, b_dir = (data_dir / p for p in SETS[size])
    w, h = map(int, size.split("x"))
    pairs, _ = find_pairs(a_dir, b_dir)
    pairs = [p for p in pairs if p.size == (h, w)]
    if not pairs:
        raise SystemExit(f"no {size} pairs in {a_dir} and {b_dir}: the benchmark times the official sizes "
                         f"(MSRS test 640x480, M3FD 1024x768); point --data-dir at a data root that holds them")
    loaded = load_model(ckpt)
    opts = FuseOptions(progress=False, precision=precision, device="cpu")
    fuse_pairs(loaded.model, pairs[:1], out, options=opts)  # warm-up: first-call allocations, lazy imports
    fused, seconds = 0, 0.0
    timings = {"decode": 0.0, "model": 0.0, "encode": 0.0}
    for _ in range(repeats):
        report = fuse_pairs(loaded.model, pairs, out, options=opts)
        fused += len(report.fused)
        seconds += report.seconds
        for k, v in report.timings.items():
            timings[k] += v
    total = sum(timings.values())
    return {"size": size, "precision": precision, "pairs": fused, "pairs_s": fused / seconds,
            "s_pair": seconds / fused, **{k: v / total for k, v in timings.items()}}


def png_encode_seconds(data_dir: Path, size: str, level: int, reps: int = 5) -> float:
    """Seconds per fused RGB PNG at a zlib ``compress_level`` (PIL's default is 6), on a real image."""
    img = np.asarray(Image.open(sorted((data_dir / SETS[size][1]).glob("*.png"))[0]))
    w, h = map(int, size.split("x"))
    img = np.ascontiguousarray(img[:h, :w])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for i in range(reps):
            Image.fromarray(img).save(Path(tmp) / f"{i}.png", compress_level=level)
        return (time.perf_counter() - start) / reps


def model_only_seconds(size: str, channels_last: bool, reps: int = 3) -> float:
    from hydra.utils import instantiate

    from fusionlab.config import compose

    cfg = compose([f"model.channels_last={str(channels_last).lower()}"], output_dir=Path(tempfile.gettempdir()))
    model = instantiate(cfg.model).eval()
    w, h = map(int, size.split("x"))
    a, b = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    with torch.inference_mode():
        model(a, b)
        start = time.perf_counter()
        for _ in range(reps):
            model(a, b)
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("FUSIONLAB_DATA") or REPO.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        raise SystemExit(f"data not found at {args.data_dir}: pass --data-dir or set FUSIONLAB_DATA")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = default_checkpoint(Path(tmp) / "run")
        rows = [bench(ckpt, args.data_dir, size, args.repeats, Path(tmp) / "out", precision)
                for precision in ("32", "bf16") for size in SETS]
    print(f"\nfuse throughput, default CNN FusionNet, torch {torch.__version__}, {args.threads} threads "
          f"(real pairs, PNG out)\n")
    print("| size | precision | pairs | pairs/s | s/pair | decode | model | encode |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['precision']} | {r['pairs']} | {r['pairs_s']:.2f} | {r['s_pair']:.3f} | "
              f"{100 * r['decode']:.0f}% | {100 * r['model']:.0f}% | {100 * r['encode']:.0f}% |")
    print("\nlevers (seconds per pair):\n")
    print("| size | PNG encode level 6 (PIL default) | level 1 | model fp32 NCHW | model channels-last |")
    print("|---|---:|---:|---:|---:|")
    for size in SETS:
        print(f"| {size} | {png_encode_seconds(args.data_dir, size, 6):.3f} | "
              f"{png_encode_seconds(args.data_dir, size, 1):.3f} | "
              f"{model_only_seconds(size, False):.3f} | {model_only_seconds(size, True):.3f} |")


if __name__ == "__main__":
    main()

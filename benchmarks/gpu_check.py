"""The Python parts of ``benchmarks/gpu_check.sh`` (a session lent a GPU runs that script; nothing else does).

    python benchmarks/gpu_check.py train  [--steps 40]   # FusionModule vs hand-written loop on the GPU
    python benchmarks/gpu_check.py fuse                  # model forward + the real fuse path, 640x480
    python benchmarks/gpu_check.py metrics               # the default metric set on one 640x480 triple
    python benchmarks/gpu_check.py table DIR             # one table from DIR/*.row (written by the above)

Each subcommand prints its rows and appends them (``name | value | note``) to ``$GPU_CHECK_ROWS`` when set.
Importable on a CPU-only machine: CUDA is touched only inside the subcommands.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

HERE = Path(__file__).resolve().parent
DEVICE = "cuda"  # --device cpu: a quick smoke run of this file's logic on a machine without a GPU


def row(name: str, value: str, note: str = "") -> None:
    line = f"| {name} | {value} | {note} |"
    print(line, flush=True)
    if os.environ.get("GPU_CHECK_ROWS"):
        with open(os.environ["GPU_CHECK_ROWS"], "a") as fh:
            fh.write(line + "\n")


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls after one warm-up, with the device synchronised."""
    fn()
    _sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train(steps: int, batch: int, patch: int) -> None:
    """Samples/s of the hand-written loop and of FusionModule under Lightning, same model/loss/batches."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    sys.path.insert(0, str(HERE))
    from bench_training import WARMUP, _Timer, make_batches, parts

    from fusionlab.engine.module import FusionModule

    batches = [{k: (v.to(DEVICE) if torch.is_tensor(v) else v) for k, v in b.items()}
               for b in make_batches(steps + WARMUP, batch, patch)]
    for precision in ("32-true", "bf16-mixed", "16-mixed"):
        model, objective = parts()
        model.to(DEVICE).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        scaler = torch.amp.GradScaler(DEVICE, enabled=dtype == torch.float16 and DEVICE == "cuda")
        if DEVICE == "cpu" and dtype == torch.float16:
            dtype = torch.bfloat16  # as Lightning does on CPU
        start = 0.0
        for i, b in enumerate(batches):
            if i == WARMUP:
                _sync()
                start = time.perf_counter()
            with torch.autocast(DEVICE, dtype=dtype or torch.float32, enabled=dtype is not None):
                fused = model(b["a"], b["b"])
            loss, _ = objective(fused.float(), b)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        _sync()
        plain = steps * batch / (time.perf_counter() - start)

        model, objective = parts()
        module = FusionModule(model, objective, optimizer=functools.partial(torch.optim.AdamW, lr=1e-3),
                              scheduler=None)
        cpu_batches = [{k: (v.cpu() if torch.is_tensor(v) else v) for k, v in b.items()} for b in batches]
        samples = [{"a": b["a"][i], "b": b["b"][i], "task": b["task"][i]} for b in cpu_batches
                   for i in range(len(b["task"]))]
        loader = DataLoader(samples, batch_size=batch, shuffle=False, drop_last=True, pin_memory=DEVICE == "cuda")
        out_file = str(Path(tempfile.gettempdir()) / "gpu_check_rate.txt")
        os.environ["FUSIONLAB_BENCH_OUT"] = out_file
        trainer = L.Trainer(accelerator="gpu" if DEVICE == "cuda" else "cpu", devices=1, precision=precision, max_steps=len(batches), logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            num_sanity_val_steps=0, limit_val_batches=0, callbacks=[_Timer()])
        trainer.fit(module, train_dataloaders=loader)
        light = float(Path(out_file).read_text())
        scaler = getattr(trainer.precision_plugin, "scaler", None) is not None
        row(f"train step {precision}, batch {batch} of {patch}² (samples/s)",
            f"loop {plain:.0f} / FusionModule {light:.0f}",
            f"ratio {light / plain:.2f} (target >= 0.95); Lightning gradient scaler: {'yes' if scaler else 'no'}")


def fuse(repeat: int) -> None:
    """The default model's forward on one 640x480 pair, and the real fuse path (decode, fuse, encode)."""
    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(HERE))
    from bench_fuse import default_checkpoint

    from fusionlab.inference import find_pairs, fuse_pairs, load_model
    from fusionlab.inference.runner import FuseOptions

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ckpt = default_checkpoint(root / "run")
        model = load_model(ckpt).model.to(DEVICE).eval()
        a, b = torch.rand(1, 1, 480, 640, device=DEVICE), torch.rand(1, 1, 480, 640, device=DEVICE)
        kinds = (("fp32", None), ("bf16", torch.bfloat16)) + ((("fp16", torch.float16),) if DEVICE == "cuda" else ())
        for name, dtype in kinds:
            def fwd(dtype=dtype):
                with torch.inference_mode(), torch.autocast(DEVICE, dtype=dtype or torch.float32,
                                                            enabled=dtype is not None):
                    model(a, b)
            s = _timed(fwd, repeat)
            row(f"model forward 640x480, {name}", f"{1 / s:.0f} pairs/s", f"{1000 * s:.2f} ms")
        rng = np.random.default_rng(0)
        for d in ("a", "b"):
            (root / d).mkdir()
            for i in range(16):
                Image.fromarray(rng.integers(0, 256, (480, 640), dtype=np.uint8)).save(root / d / f"{i:02d}.png")
        pairs, _ = find_pairs(root / "a", root / "b")
        for precision in ("32", "bf16"):
            opts = FuseOptions(progress=False, precision=precision, device=DEVICE)
            fuse_pairs(model, pairs[:1], root / "out", options=opts)
            report = fuse_pairs(model, pairs, root / "out", options=opts)
            share = {k: v / sum(report.timings.values()) for k, v in report.timings.items()}
            row(f"fuse path 640x480 PNG, {precision}", f"{len(report.fused) / report.seconds:.1f} pairs/s",
                " ".join(f"{k} {100 * v:.0f}%" for k, v in share.items()))


def metrics(repeat: int) -> None:
    import torch

    from fusionlab.metrics import DEFAULT_METRICS, compute_metrics

    g = torch.Generator().manual_seed(0)
    f, a, b = (torch.randint(0, 256, (1, 1, 480, 640), generator=g).double() for _ in range(3))
    for device in dict.fromkeys(("cpu", DEVICE)):
        x = [t.to(device) for t in (f, a, b)]
        s = _timed(lambda x=x: compute_metrics(*x), repeat)
        row(f"default metric set ({len(DEFAULT_METRICS)}), one 640x480 triple, {device}", f"{s:.3f} s",
            f"{1 / s:.1f} images/s")


def table(folder: Path) -> None:
    print("\n| check | result | note |\n|---|---|---|")
    for f in sorted(folder.glob("*.row")):
        print(f.read_text().rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["train", "fuse", "metrics", "table"])
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.what == "table":
        table(args.folder or Path("."))
        return
    import torch

    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: CUDA is not available here")
    {"train": lambda: train(args.steps, args.batch, args.patch), "fuse": lambda: fuse(args.repeat),
     "metrics": lambda: metrics(args.repeat)}[args.what]()


if __name__ == "__main__":
    main()

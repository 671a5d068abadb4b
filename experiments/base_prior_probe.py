"""Which base-blend prior would win PET-MRI without losing the focus pairs? The priors alone, scored fast.

    python experiments/base_prior_probe.py --data-dir ../shared/data [--datasets harvard/PET-MRI,lytro] [--pairs N]
    python experiments/base_prior_probe.py --validation --data-dir ../shared/data   # what selection reads
    python experiments/base_prior_probe.py --synthetic 64                           # the ground truth, no data
    python experiments/base_prior_probe.py --data-dir ../shared/data --write experiments/results/base_prior_probe/table.md

The default two-scale head, untrained, is its priors: details follow the source whose detail layer is more
active (weights ∝ RMS^20 on a 15×15 window), bases follow the same activity averaged over a 43×43 window. This
script rebuilds those blends with no network (the untrained head's logits and correction are ~1e-3, and
``trainer.max_steps=0`` runs give the same win counts), swaps in other base priors, and prints per dataset the
headline metrics won against averaging and GFF. The variants:

* ``default``: the one-band priors (the default recipe's until 2026-12-06; the name is kept so the committed
  table and docs/quality.md still read);
* ``base_scale``: the base blend follows the source with more contrast in its *base layer* (energy of the base
  layer minus its 43×43 mean), per band as a Laplacian pyramid selects;
* ``base_scale_added``: that energy added to the detail activity the default base prior reads;
* ``base_prior_5``: the default with a softer base prior (``model.base_prior=5``);
* ``base_radius_4``: the default with ``model.base_radius=4`` (base prior window 3·4);
* ``coarse_blend_64``: a third band, as a pyramid blend does against seams: the base layer's coarse part (box mean,
  radius 64) is blended with the base weights smoothed over the same box, its remainder with the sharp ones.
  Built since as ``model.base_coarse_radius`` and adopted by the default recipe (``=64``): docs/quality.md.
* ``coarse_blend_64_in_range``: that blend with the base layer kept within the two sources' base layers at each
  pixel (``model.base_in_range``, the default recipe's since 2026-12-06): no halo where both sources are black.
* ``coarse_blend_64_in_range_w7``: that blend with the base layers' fine band blended by the base weights averaged
  over a 15×15 box (``model.base_weight_radius=7``, the default recipe's since 2026-12-06): no hard-edged patches
  where the prior flips.
* ``coarse_blend_128_in_range_w7``: that blend with a coarse band of radius 128 (``model.base_coarse_radius=128``,
  the default recipe's since 2026-12-07): the widest radius the synthetic validation pairs (128 px) can tell apart;
  their ground truth prefers it. The sweep that chose it:
  ``experiments/results/base_prior_probe/coarse_radius_probe.py``.

docs/quality.md reads it. Scoring on the test sets to choose a prior is tuning to them; the
script is here to show why the default was *not* changed, and to rerun the comparison on other images.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from fusionlab.baselines import build_baseline
from fusionlab.data.sources import BuildRequest, get_source
from fusionlab.engine.validation import HEADLINE_METRICS as HEADLINE
from fusionlab.engine.validation import QUALITY_METRICS
from fusionlab.metrics import compute_metrics, compute_reference_metrics, to_metric_range
from fusionlab.models.fusion_net import box_mean, clipped_box_mean

WRITE_SYNTHETIC_PAIRS = 64  # --write: synthetic validation pairs per task in the committed table
DATASETS = ("msrs", "roadscene", "m3fd", "harvard/CT-MRI", "harvard/PET-MRI", "harvard/SPECT-MRI", "mef", "lytro")
# The default run's validation sets: the MSRS held-out slice and the embedded synthetic pairs of every task
# (data.val=[msrs,synthetic/mif,synthetic/mef,synthetic/mff] in docs/quality.md; synthetic/ivif joins when the MSRS
# slice is small, as on the shared sample).
VALIDATION = ("msrs", "synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff")


def _layers(x: Tensor, radius: int) -> tuple[Tensor, Tensor, Tensor]:
    """(base, detail, detail activity) of one source, as ``Decoder.layers`` splits it."""
    base = box_mean(x, radius)
    detail = x - base
    return base, detail, box_mean(detail * detail, radius)


def _follow(scale: float, energy: Tensor) -> Tensor:
    return (0.5 * scale * torch.log(energy + 1e-6)).softmax(1)


def two_scale_priors(a: Tensor, b: Tensor, base_prior: float = 20.0, detail_prior: float = 20.0, radius: int = 7,
                     base_energy: str = "detail", band_radius: int = 21, coarse_radius: int = 0,
                     in_range: bool = False, base_floor: float = 0.0, weight_radius: int = 0,
                     detail_radius: int | None = None, coarse_bright: float = 0.0) -> Tensor:
    """The untrained two-scale head: blends of base and detail layers chosen by activity priors alone.

    ``base_energy``: what the base prior compares. ``detail`` (the default head): detail activity on a
    3·radius window; ``band``: the base layer's own contrast (its energy around a ``band_radius`` box mean);
    ``detail+band``: their sum; ``detail_geomean``: the detail activity's geometric mean over the window (a thin line
    moves it little). ``base_floor`` is added to the energies compared (``model.base_prior_floor``).
    ``coarse_radius`` > 0: the base layer's box mean of that radius is blended with the base weights smoothed over
    the same box (a three-band blend); ``in_range``: that blended base layer is clamped
    to the range of the two base layers at each pixel (``model.base_in_range``). ``weight_radius`` > 0: the base
    weights are averaged over a box of that radius before they blend the base layers (their fine band, with a
    coarse band; ``model.base_weight_radius``). Not model options, for the ad hoc probes: ``detail_radius`` measures
    the detail blend's activity over a box of that radius instead of ``radius`` (the base prior's activity keeps
    ``radius``); ``coarse_bright`` gives that share of the coarse band's weight to the source whose coarse mean is
    the brighter one at each pixel.
    """
    la, da, ea = _layers(a, radius)
    lb, db, eb = _layers(b, radius)
    activity = torch.cat((ea, eb), 1)
    band = torch.cat([box_mean((x - box_mean(x, band_radius)) ** 2, band_radius) for x in (la, lb)], 1)
    energy = {"detail": lambda: box_mean(activity, 3 * radius), "band": lambda: band,
              "detail+band": lambda: box_mean(activity, 3 * radius) + band,
              "detail_geomean": lambda: box_mean(torch.log(activity + 1e-6), 3 * radius).exp() - 1e-6}[base_energy]()
    detail_activity = activity if detail_radius in (None, radius) else torch.cat(
        [box_mean(d * d, detail_radius) for d in (da, db)], 1)
    wb, wd = _follow(base_prior, energy + base_floor), _follow(detail_prior, detail_activity)
    wl = clipped_box_mean(wb, weight_radius) if weight_radius > 0 else wb
    layer = wl[:, :1] * la + wl[:, 1:] * lb
    if coarse_radius > 0:
        ca, cb = clipped_box_mean(la, coarse_radius), clipped_box_mean(lb, coarse_radius)
        wc = clipped_box_mean(wb, coarse_radius)
        if coarse_bright:
            brighter = (ca >= cb).float()
            wc = (1 - coarse_bright) * wc + coarse_bright * torch.cat((brighter, 1 - brighter), 1)
        smooth = wc - wl
        layer = layer + smooth[:, :1] * ca + smooth[:, 1:] * cb
        if in_range:
            layer = layer.clamp(torch.minimum(la, lb), torch.maximum(la, lb))
    fused = layer + wd[:, :1] * da + wd[:, 1:] * db
    return fused.clamp(1e-3, 1 - 1e-3)


VARIANTS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "default": two_scale_priors,
    "base_scale": lambda a, b: two_scale_priors(a, b, base_energy="band"),
    "base_scale_added": lambda a, b: two_scale_priors(a, b, base_energy="detail+band"),
    "base_prior_5": lambda a, b: two_scale_priors(a, b, base_prior=5.0),
    "base_radius_4": lambda a, b: two_scale_priors(a, b, radius=4),
    "coarse_blend_64": lambda a, b: two_scale_priors(a, b, coarse_radius=64),
    "coarse_blend_64_in_range": lambda a, b: two_scale_priors(a, b, coarse_radius=64, in_range=True),
    "coarse_blend_64_in_range_w7": lambda a, b: two_scale_priors(a, b, coarse_radius=64, in_range=True,
                                                                  weight_radius=7),
    "coarse_blend_128_in_range_w7": lambda a, b: two_scale_priors(a, b, coarse_radius=128, in_range=True,
                                                                   weight_radius=7),
}


def dataset_means(key: str, data_dir: Path | None, pairs: int | None = None,
                  rules: tuple[str, ...] = ("average", "gff"), split: str = "test",
                  metrics: tuple[str, ...] = HEADLINE) -> dict[str, dict[str, float]]:
    """{method: {metric: mean over the dataset's first ``pairs`` pairs of ``split`` (all: None)}} for every
    variant and rule, scored on 8-bit images as the evaluation saves them."""
    ds = get_source(key).build(BuildRequest(data_dir=data_dir, split=split))
    n = len(ds) if pairs is None else min(pairs, len(ds))
    sums: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for i in range(n):
            sample = ds[i]
            a, b = sample["a"][None].float(), sample["b"][None].float()
            outs = {name: fn(a, b) for name, fn in VARIANTS.items()}
            outs.update({rule: build_baseline(rule)(a, b) for rule in rules})
            ra, rb = to_metric_range(a), to_metric_range(b)
            for name, f in outs.items():
                values = compute_metrics(to_metric_range(f.clamp(0, 1)), ra, rb, names=metrics)
                acc = sums.setdefault(name, dict.fromkeys(metrics, 0.0))
                for m in metrics:
                    acc[m] += float(values[m][0]) / n
    return sums


def validation_quality(data_dir: Path, keys: tuple[str, ...] = VALIDATION) -> dict[str, dict[str, float]]:
    """``val/quality`` of every variant, per validation set and overall (``mean``): the model-selection
    criterion of training runs (``fusionlab.engine.validation``: MI, SCD, VIF, Qabf and SSIM, each as the ratio
    to the average rule's mean on the same images, averaged). Only validation splits are read, so a choice
    made on it is not tuned to any test image."""
    ratios: dict[str, dict[str, list[float]]] = {name: {} for name in VARIANTS}
    for key in keys:
        means = dataset_means(key, None if key.startswith("synthetic/") else data_dir, rules=("average",),
                              split="val", metrics=QUALITY_METRICS)
        for name in VARIANTS:
            ratios[name][key] = [means[name][m] / means["average"][m] for m in QUALITY_METRICS
                                 if means["average"][m] > 0]
    out = {}
    for name, per_set in ratios.items():
        out[name] = {k: sum(v) / len(v) for k, v in per_set.items()}
        every = [r for v in per_set.values() for r in v]
        out[name]["mean"] = sum(every) / len(every)
    return out


def synthetic_psnr(variants: dict[str, Callable[[Tensor, Tensor], Tensor]],
                   rules: tuple[str, ...] = ("average", "max", "gff"), pairs: int | None = None,
                   seed: int = 0, echo: bool = True) -> list[str]:
    """PSNR_gt of every variant and rule on the synthetic *validation* pairs of each task (ground truth known,
    never tested on), scored on 8-bit images as the evaluation saves them; the table's lines, printed as they come
    unless ``echo`` is false. ``pairs``: how many per task (default 8, as many as a training run validates on; the
    first 8 come first in any larger draw). One pair's PSNR_gt varies by several dB, so a difference of tenths of a
    dB needs more than 8 to be read. ``seed``: the draw (default 0; a training run draws its validation pairs with
    its own seed, so these are a seed-0 run's)."""
    names = [*variants, *rules]
    lines = ["| task | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    if echo:
        print("\n".join(lines), flush=True)
    options = {"lengths": {"val": pairs}} if pairs else {}
    for task in ("synthetic/ivif", "synthetic/mif", "synthetic/mef", "synthetic/mff"):
        ds = get_source(task).build(BuildRequest(data_dir=None, split="val", seed=seed, options=options))
        sums = dict.fromkeys(names, 0.0)
        with torch.no_grad():
            for i in range(len(ds)):
                sample = ds[i]
                a, b, target = (sample[k][None].float() for k in ("a", "b", "target"))
                for name in names:
                    fused = variants[name](a, b) if name in variants else build_baseline(name)(a, b)
                    psnr = compute_reference_metrics(to_metric_range(fused.clamp(0, 1)), to_metric_range(target))
                    sums[name] += float(psnr["PSNR_gt"].mean()) / len(ds)
        lines.append(f"| {task} | " + " | ".join(f"{sums[n]:.2f}" for n in names) + " |")
        if echo:
            print(lines[-1], flush=True)
    return lines


def run_ad_hoc(variants: dict[str, Callable[[Tensor, Tensor], Tensor]], argv: list[str]) -> None:
    """Entry point of the ad hoc probes under results/base_prior_probe: ``psnr`` (synthetic validation PSNR_gt;
    ``--pairs N`` per task instead of 8 (as many as a run validates on), ``--seed S`` another draw than seed 0's),
    ``val`` (``--validation``: val/quality) or ``test`` (win counts on the test pairs; further arguments as
    :func:`main`) for their own variants instead of this script's."""
    VARIANTS.clear()
    VARIANTS.update(variants)
    mode, rest = (argv[0] if argv else "test"), argv[1:]
    data = ["--data-dir", os.environ.get("FUSIONLAB_DATA", "../shared/data")]
    if mode == "psnr":
        parser = argparse.ArgumentParser(prog="psnr")
        parser.add_argument("--pairs", type=int, default=None, help="validation pairs per task (default 8)")
        parser.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
        opts = parser.parse_args(rest)
        if opts.pairs is not None and opts.pairs < 1:
            raise SystemExit(f"--pairs must be at least 1, got {opts.pairs}")
        synthetic_psnr(variants, pairs=opts.pairs, seed=opts.seed)
    elif mode in ("val", "test"):
        main([*data, *(["--validation"] if mode == "val" else []), *rest])
    else:
        raise SystemExit(f"unknown mode {mode!r}: use psnr, val or test")


def validation_table_lines(data_dir: Path) -> list[str]:
    """The ``--validation`` table: every variant's ``val/quality``, overall and per validation set."""
    scores = validation_quality(data_dir)
    lines = ["| variant | val/quality | " + " | ".join(VALIDATION) + " |", "|---|---:|" + "---:|" * len(VALIDATION)]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['mean']:.4f} | " + " | ".join(f"{s[k]:.4f}" for k in VALIDATION) + " |")
    return lines


def pair_table_lines(data_dir: Path, datasets: list[str], pairs: int | None = None, echo: bool = True) -> list[str]:
    """The test-pair table: per dataset and variant, metrics won against averaging and GFF and the means."""
    lines = ["| dataset | variant | vs average | vs gff | lost to average | " + " | ".join(HEADLINE) + " |",
             "|---|---|---:|---:|---|" + "---:|" * len(HEADLINE)]
    if echo:
        print("\n".join(lines), flush=True)
    for key in datasets:
        means = dataset_means(key, data_dir, pairs)
        for name in VARIANTS:
            mine = means[name]
            won = {r: [m for m in HEADLINE if mine[m] > means[r][m]] for r in ("average", "gff")}
            lost = ",".join(m for m in HEADLINE if m not in won["average"]) or "-"
            lines.append(f"| {key} | {name} | {len(won['average'])} | {len(won['gff'])} | {lost} | "
                         + " | ".join(f"{mine[m]:.3f}" for m in HEADLINE) + " |")
            if echo:
                print(lines[-1], flush=True)
    return lines


def write_table(path: Path, data_dir: Path, datasets: list[str], pairs: int | None, command: str) -> str:
    """Both tables in one markdown file, with the command and time that made them: the committed table
    (results/base_prior_probe/table.md) is this function's output, never assembled by hand."""
    start = time.perf_counter()
    test = pair_table_lines(data_dir, datasets, pairs)
    val_start = time.perf_counter()
    val = validation_table_lines(data_dir)
    syn_start = time.perf_counter()
    syn = synthetic_psnr(VARIANTS, pairs=WRITE_SYNTHETIC_PAIRS)
    done = time.perf_counter()
    text = "\n".join([
        "# Base-blend priors, untrained, scored without a network", "",
        f"Generated by `{command}` ({done - start:.0f} s, {os.cpu_count()} CPUs), {datetime.date.today()}. Metrics of 8 "
        "won against averaging and GFF on the dataset means of the test pairs; variants in the script's docstring.", "",
        *test, "",
        "What model selection would read instead (the same run; alone: `python experiments/base_prior_probe.py "
        f"--validation --data-dir ../shared/data`, {syn_start - val_start:.0f} s): val/quality (MI, SCD, VIF, Qabf, SSIM as "
        "ratios to averaging) on the validation sets only.", "",
        *val, "",
        f"And the validation pairs' ground truth, PSNR_gt (dB) on {WRITE_SYNTHETIC_PAIRS} synthetic validation pairs per task "
        "(seed 0's draw, its first 8 as many as a run validates on; alone: `python experiments/base_prior_probe.py --synthetic "
        f"{WRITE_SYNTHETIC_PAIRS}`, {done - syn_start:.0f} s):", "",
        *syn, ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    tmp.write_text(text)
    tmp.replace(path)  # whole or not at all: a failed run leaves the committed table as it was
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("FUSIONLAB_DATA", "../shared/data"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--pairs", type=int, default=None, help="first N test pairs per dataset (default: all)")
    parser.add_argument("--validation", action="store_true",
                        help="score the variants on the validation sets instead (val/quality: what selection reads)")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                        help="print PSNR_gt on N synthetic validation pairs per task instead (ground truth known; no "
                             "data needed; a run validates on 8 of its seed's draw, more read differences of tenths of a dB)")
    parser.add_argument("--seed", type=int, default=0, help="with --synthetic: the draw's seed (default 0)")
    parser.add_argument("--write", type=Path, default=None, metavar="PATH",
                        help="run both tables and write them, with this command and the time, to PATH "
                             "(results/base_prior_probe/table.md is made this way)")
    args = parser.parse_args(argv)
    if args.synthetic is not None:
        if args.synthetic < 1:
            parser.error(f"--synthetic must be at least 1 pair, got {args.synthetic}")
        synthetic_psnr(VARIANTS, pairs=args.synthetic, seed=args.seed)
        return
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        parser.error(f"--data-dir {data_dir} is not a folder: point it at the shared data (../shared/data) or set "
                     "FUSIONLAB_DATA")
    datasets = [d for d in args.datasets.split(",") if d]
    if args.write:
        command = "python experiments/base_prior_probe.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_table(args.write, data_dir, datasets, args.pairs, command)
        print(f"written: {args.write}")
    elif args.validation:
        print("\n".join(validation_table_lines(data_dir)))
    else:
        pair_table_lines(data_dir, datasets, args.pairs)


if __name__ == "__main__":
    main()

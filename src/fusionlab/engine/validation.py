"""Validation scores: the headline metrics on the training task's validation split, and the quality criterion.

Model selection (checkpoints, sweeps, studies) reads only these ``val/`` keys, never the test suite.
``val/quality`` is the default criterion: for every validation dataset and every *source-referenced* metric (MI,
SCD, VIF, Qabf, SSIM: how much of the sources reaches the fused image), the model's mean divided by the plain
average rule's mean on the same images, averaged. It is scale-free, and 1.0 means "as good as averaging".
EN, SD and SF are logged but left out: they read the fused image alone and reward noise (measured: a model whose
weights were replaced by noise scored 1.55 on a ratio over all eight headline metrics, a trained one 1.01).
Validation sets with ground truth (the embedded synthetic pairs) also log ``val/<dataset>/PSNR_gt``: the
source-referenced metrics reward a fused image that copies one source region by region (MI most), which ground truth
does not (docs/quality.md, *Two bands in the base blend*); select on it with ``optimized_metric`` or a checkpoint
monitor where that matters. ``val/quality`` does not read it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from fusionlab.baselines import build_baseline
from fusionlab.engine.distributed import peer_failure_grace
from fusionlab.engine.evaluation import primed, score
from fusionlab.metrics import build_metric_collection

HEADLINE_METRICS = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM")
QUALITY_METRICS = ("MI", "SCD", "VIF", "Qabf", "SSIM")  # source-referenced: noise cannot raise them
QUALITY_KEY = "val/quality"


class ValidationScores(nn.Module):
    """Per-dataset metric states (torchmetrics, synced across ranks) for the model and the average rule."""

    def __init__(self, metrics: Sequence[str], convention: str) -> None:
        super().__init__()
        self.metric_names, self.convention = list(metrics), convention
        self.reference_rule = build_baseline("average")
        self.states: dict[str, dict[str, nn.Module]] = {}
        self.reference_means: dict[str, dict[str, float]] = {}  # recomputed after a resume (cheap, exact)

    def start(self, datasets: Sequence[str], device: torch.device) -> None:
        self.states = {}
        for d in datasets:
            loss = MeanMetric().to(device)
            loss.update(torch.empty(0, device=device))  # counted as updated on every rank (see primed)
            psnr_gt = MeanMetric(nan_strategy="ignore").to(device)
            psnr_gt.update(torch.empty(0, device=device))  # synced on every rank, logged only where a target was seen
            state = {"model": primed(build_metric_collection(self.metric_names, self.convention), device),
                     "loss": loss, "PSNR_gt": psnr_gt}
            if d not in self.reference_means:
                state["reference"] = primed(build_metric_collection(self.metric_names, self.convention), device)
            self.states[d] = state

    def update(self, dataset: str, fused: Tensor, batch: dict, values: dict[str, Tensor],
               loss: Tensor | None) -> None:
        state = self.states[dataset]
        for metric in state["model"].values(copy_state=False):
            metric.update(fused, batch["a"], batch["b"], values=values[metric.name])
        if loss is not None:
            state["loss"].update(loss.detach().float(), weight=fused.shape[0])
        if "PSNR_gt" in values:  # the batch carried its ground truth
            state["PSNR_gt"].update(values["PSNR_gt"].float())
        if "reference" in state:
            ref = self.reference_rule(batch["a"].float(), batch["b"].float())
            ref_values = score(ref, {"a": batch["a"], "b": batch["b"]}, self.metric_names, self.convention)
            for metric in state["reference"].values(copy_state=False):
                metric.update(ref, batch["a"], batch["b"], values=ref_values[metric.name])

    def compute(self, with_loss: bool) -> dict[str, float]:
        """``val/<dataset>/<metric>``, ``val/<dataset>/PSNR_gt`` (ground truth), ``val/mean/<metric>``, ``val/loss``
        and ``val/quality``."""
        out: dict[str, float] = {}
        per_metric: dict[str, list[float]] = {}
        ratios: list[float] = []
        losses: list[float] = []
        with peer_failure_grace("the validation metrics' sync"):
            for dataset, state in self.states.items():
                means = {k: float(v) for k, v in state["model"].compute().items()}
                if "reference" in state:
                    self.reference_means[dataset] = {k: float(v) for k, v in state["reference"].compute().items()}
                reference = self.reference_means.get(dataset, {})
                for name, value in means.items():
                    out[f"val/{dataset}/{name}"] = value
                    per_metric.setdefault(name, []).append(value)
                    ref = reference.get(name, float("nan"))
                    if name in QUALITY_METRICS and value == value and ref > 0:
                        ratios.append(value / ref)
                psnr_gt = float(state["PSNR_gt"].compute())
                if psnr_gt == psnr_gt:
                    out[f"val/{dataset}/PSNR_gt"] = psnr_gt
                if with_loss:
                    loss = float(state["loss"].compute())
                    out[f"val/{dataset}/loss"] = loss
                    losses.append(loss)
        for name, values in per_metric.items():
            finite = [v for v in values if v == v]
            if finite:
                out[f"val/mean/{name}"] = sum(finite) / len(finite)
        if losses:
            out["val/loss"] = sum(losses) / len(losses)
        if ratios:
            out[QUALITY_KEY] = sum(ratios) / len(ratios)
        return out

"""Which task a checkpoint fuses: the one it was trained on, or the one the user names (zero-shot)."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from fusionlab import TASKS
from fusionlab.inference.pairs import InputError

log = logging.getLogger(__name__)


def trained_tasks(run_cfg: DictConfig | None) -> list[str]:
    """Tasks of a run's training sources (``data.train[*].source`` -> its registered task), in order."""
    from fusionlab.data.sources import get_source

    if run_cfg is None:
        return []
    try:
        entries = list((run_cfg.get("data") or {}).get("train") or [])
    except Exception:  # noqa: BLE001 - an unresolvable run config just means "unknown"
        return []
    tasks: list[str] = []
    for entry in entries:
        try:
            task = get_source(str(entry.get("source"))).task
        except (KeyError, AttributeError):  # a user dataset registered elsewhere, or a malformed entry
            continue
        if task not in tasks:
            tasks.append(task)
    return tasks


def resolve_task(hint: str | None, run_cfg: DictConfig | None) -> str | None:
    """The task to report and to tell task-aware models: ``hint``, else the checkpoint's one training task.

    The task never changes the colour policy or pairing; a model trained on other tasks is simply run
    zero-shot (logged).
    """
    trained = trained_tasks(run_cfg)
    if hint:
        hint = str(hint).lower()
        if hint not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, got {hint!r}")
        if trained and hint not in trained:
            log.info("task %s: zero-shot (the checkpoint was trained on %s)", hint, ", ".join(trained))
        return hint
    if len(trained) == 1:
        return trained[0]
    if trained:
        log.info("the checkpoint was trained on %s; pass task=... to name the task", ", ".join(trained))
    return None

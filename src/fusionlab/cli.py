"""Shared plumbing of the ``python -m fusionlab.X`` entry points: environment defaults, a quiet console,
one-line user errors.

Only the project's own error types (``fusionlab.errors``) and config-composition errors become
``error: <one line>`` with exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

log = logging.getLogger("fusionlab")

# Offline-safe defaults (DESIGN §8): no hub lookups, W&B offline, no albumentations update check.
for _key, _value in (("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1"), ("WANDB_SILENT", "true")):
    os.environ.setdefault(_key, _value)
# Transparent huge pages for PyTorch's large CPU tensors (DESIGN §9): each fresh full-resolution activation
# otherwise costs tens of thousands of page faults (fp32 640x480 CNN forward: ~100k faults -> ~7k). Read once
# by c10 at its first allocation, so it must be set before torch is imported: the entry points import this
# module before torch. THP_MEM_ALLOC_ENABLE=0 turns it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
if os.environ.get("WANDB_MODE", "offline").lower() != "online":
    os.environ["WANDB_MODE"] = "offline"

# Messages that say nothing actionable to a fusionlab user (each one was seen in a normal run).
QUIET_WARNINGS = (
    r".*treespec.*deprecated.*",
    r"metric \S+ is undefined for batch item.*",  # results.md notes metrics left out of a table
    r".*module\(s\) in eval mode.*",
    r".*The anonymous setting.*",
    r".*could not find the monitored key.*",
    r".*does not have many workers.*",
    r".*is an invalid value for the `LightningModule` prop.*",
)


def quiet_console() -> None:
    """Silence library chatter that is not about the user's run (tips, deprecations inside dependencies)."""
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    # Lightning logs through its own handler *and* the root handler Hydra sets up: keep one, at WARNING.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.WARNING)


def user_error_message(err: BaseException) -> str | None:
    """The one line to show for an error caused by the user's config or data; None for a real bug."""
    from hydra.errors import HydraException, InstantiationException
    from omegaconf.errors import OmegaConfBaseException

    from fusionlab.errors import FusionlabError

    key = ""
    if isinstance(err, InstantiationException):
        # Hydra wraps the constructor's error; report the cause, with the config key it came from.
        text = str(err)
        if "full_key:" in text:
            key = text.rsplit("full_key:", 1)[1].strip().splitlines()[0]
        cause = err.__cause__
        if cause is None or isinstance(cause, ImportError) or _is_signature_error(cause):
            return " ".join(text.split("\n")[0].split()) + (f" (config key: {key})" if key and key not in text else "")
        err = cause
    if not isinstance(err, FusionlabError | HydraException | OmegaConfBaseException):
        return None
    text = " ".join(str(err).split())
    return f"{text} (config key: {key})" if key and key not in text else text


def _is_signature_error(err: BaseException) -> bool:
    """A constructor called with a key it does not take, or without one it needs: a config mistake."""
    text = str(err)
    return isinstance(err, TypeError) and ("unexpected keyword argument" in text or "required positional" in text
                                           or "missing" in text and "argument" in text)


def run_cli(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; user errors become ``error: <one line>`` on stderr and exit code 2."""
    quiet_console()
    try:
        return fn()
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - we re-raise anything that is not a user error
        msg = user_error_message(err) if isinstance(err, Exception) else None
        if msg is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)

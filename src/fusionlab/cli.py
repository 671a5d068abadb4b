"""Shared plumbing of the ``python -m fusionlab.X`` entry points: environment defaults and one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("fusionlab")

# Offline-safe defaults (DESIGN §8): no hub lookups, W&B offline, no albumentations update check.
for _key, _value in (("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1"), ("WANDB_SILENT", "true")):
    os.environ.setdefault(_key, _value)
if os.environ.get("WANDB_MODE", "offline").lower() != "online":
    os.environ["WANDB_MODE"] = "offline"


def user_error_message(err: BaseException) -> str | None:
    """The one line to show for an error caused by the user's config or data; None for a real bug."""
    from hydra.errors import HydraException, InstantiationException
    from omegaconf.errors import OmegaConfBaseException

    from fusionlab.data.datamodule import DataConfigError
    from fusionlab.engine.module import NonFiniteLossError

    key = ""
    if isinstance(err, InstantiationException):
        # Hydra wraps the constructor's error; report the cause, with the config key it came from.
        text = str(err)
        if "full_key:" in text:
            key = text.rsplit("full_key:", 1)[1].strip().splitlines()[0]
        cause = err.__cause__
        if cause is not None:
            err = cause
        else:
            return text.splitlines()[0] + (f" (config key: {key})" if key else "")
    user_errors = (DataConfigError, NonFiniteLossError, ValueError, KeyError, FileNotFoundError, FileExistsError, TypeError,
                   HydraException, OmegaConfBaseException)
    if not isinstance(err, user_errors):
        return None
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    text = " ".join(str(text).split())
    return f"{text} (config key: {key})" if key and key not in text else text


def run_cli(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; user errors become ``error: <one line>`` on stderr and exit code 2."""
    try:
        return fn()
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - we re-raise anything that is not a user error
        msg = user_error_message(err) if isinstance(err, Exception) else None
        if msg is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)

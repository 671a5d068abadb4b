"""The project's own error types: what the entry points report as ``error: <one line>`` (exit code 2).

Everything else is a bug and keeps its traceback, so a user is never sent hunting for a config mistake that
is not theirs. Each type also derives from the builtin it refines, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class FusionlabError(Exception):
    """Base of every user-facing error: the message names the key or file and says how to fix it."""


class ConfigError(FusionlabError, ValueError):
    """A config value that cannot work (unknown name, out of range, incompatible options)."""


class DataError(FusionlabError, ValueError):
    """Missing or malformed data: the message names the dataset root or file."""


class CheckpointError(FusionlabError, ValueError):
    """A checkpoint file that is missing, truncated, foreign or does not fit the model config."""


class ResultsExistError(FusionlabError, FileExistsError):
    """A run folder already holds finished results: fusionlab never overwrites them."""


class NonFiniteLossError(FusionlabError, FloatingPointError):
    """Training produced NaN/Inf; the message names the loss term and the step."""


class UnknownNameError(ConfigError, KeyError):
    """A name (dataset, baseline, metric, variant) that is not registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

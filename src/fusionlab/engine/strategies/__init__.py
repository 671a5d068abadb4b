"""Training modes as strategies of one LightningModule (DESIGN §2): one file, one way to step.

``joint`` takes one optimiser step on the weighted objective; ``bilevel`` alternates reconstruction (phi) and
fusion (theta) updates; ``alternating`` takes one step per task of a mixed batch (GIFNet).
"""

from __future__ import annotations

from fusionlab.engine.strategies.alternating import AlternatingStrategy
from fusionlab.engine.strategies.base import TrainingStrategy
from fusionlab.engine.strategies.bilevel import BilevelStrategy
from fusionlab.engine.strategies.joint import JointStrategy
from fusionlab.errors import ConfigError

STRATEGIES: dict[str, type[TrainingStrategy]] = {
    "joint": JointStrategy,
    "bilevel": BilevelStrategy,
    "alternating": AlternatingStrategy,
}
MODES = tuple(STRATEGIES)


def build_strategy(mode: str, inner_steps: int = 1) -> TrainingStrategy:
    """The strategy called ``mode`` (``optim.mode``); unknown names fail listing the known ones."""
    if mode not in STRATEGIES:
        raise ConfigError(f"optim.mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "bilevel":
        return BilevelStrategy(inner_steps=inner_steps)
    if inner_steps != 1:
        raise ConfigError(f"optim.inner_steps={inner_steps} only applies to optim.mode=bilevel (got mode {mode})")
    return STRATEGIES[mode]()


__all__ = ["MODES", "STRATEGIES", "AlternatingStrategy", "BilevelStrategy", "JointStrategy", "TrainingStrategy",
           "build_strategy"]

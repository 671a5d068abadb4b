"""Loss terms (one ``nn.Module`` per term, each with a name and a weight) and the weighted Objective."""

from fusionlab.losses.base import LossTerm, Objective
from fusionlab.losses.pixel import GradientLoss, IntensityLoss, SSIMLoss
from fusionlab.losses.reconstruction import ReconstructionLoss

__all__ = ["GradientLoss", "IntensityLoss", "LossTerm", "Objective", "ReconstructionLoss", "SSIMLoss"]

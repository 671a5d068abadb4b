"""Loss terms (one ``nn.Module`` per term, each with a name and a weight) and the weighted Objective."""

from fusionlab.losses.base import LossTerm, Objective
from fusionlab.losses.decomposition import DecompositionLoss
from fusionlab.losses.entropy import PixelEntropyLoss
from fusionlab.losses.frequency import DetailLoss, FrequencyDecoupledLoss
from fusionlab.losses.information import InformationWeightedLoss
from fusionlab.losses.pixel import GradientLoss, IntensityLoss, SSIMLoss
from fusionlab.losses.preservation import CorrelationOfDifferencesLoss, EdgePreservationLoss
from fusionlab.losses.reconstruction import ReconstructionLoss
from fusionlab.losses.semantic import SemanticEntropyLoss
from fusionlab.losses.structural import MSSSIMLoss, WeightedSSIMLoss
from fusionlab.losses.supervised import SupervisedLoss

__all__ = ["GradientLoss", "IntensityLoss", "LossTerm", "Objective", "ReconstructionLoss", "SSIMLoss"]
__all__ += [
    "CorrelationOfDifferencesLoss", "DecompositionLoss", "DetailLoss", "EdgePreservationLoss", "FrequencyDecoupledLoss", "InformationWeightedLoss", "MSSSIMLoss",
    "PixelEntropyLoss", "SemanticEntropyLoss", "SupervisedLoss", "WeightedSSIMLoss",
]

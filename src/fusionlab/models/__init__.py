"""Fusion networks: FusionNet = backbone (encoder) -> fuser -> decoder; backbones live in ``backbones/``."""

from fusionlab.models.backbones.base import Backbone
from fusionlab.models.fusion_net import FusionNet

__all__ = ["Backbone", "FusionNet"]

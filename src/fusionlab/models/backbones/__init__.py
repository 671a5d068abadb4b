"""Feature extractors behind one interface (:class:`Backbone`); one file per family."""

from fusionlab.models.backbones.base import Backbone
from fusionlab.models.backbones.cnn import DenseCNN

__all__ = ["Backbone", "DenseCNN"]

"""Feature extractors behind one interface (:class:`Backbone`); one file per family."""

from fusionlab.errors import ConfigError
from fusionlab.models.backbones.base import Backbone
from fusionlab.models.backbones.cnn import DenseCNN
from fusionlab.models.backbones.dinov3 import DINOv3Backbone
from fusionlab.models.backbones.ssm import SSMBackbone
from fusionlab.models.backbones.transformer import RestormerBackbone

__all__ = ["Backbone", "DenseCNN"]
__all__ += ["BACKBONES", "DINOv3Backbone", "RestormerBackbone", "SSMBackbone", "build_backbone"]

# name -> class, the same names as the conf/model/backbone/<name>.yaml options (Hydra's _target_ does the
# dispatch in configs; this registry serves code and error messages)
BACKBONES: dict[str, type[Backbone]] = {
    "cnn": DenseCNN,
    "ssm": SSMBackbone,
    "transformer": RestormerBackbone,
    "dinov3": DINOv3Backbone,
}


def build_backbone(name: str, **kwargs: object) -> Backbone:
    """Build a backbone by registry name; an unknown name lists the available ones."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](**kwargs)

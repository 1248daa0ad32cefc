"""lpips-edu: perceptual similarity (LPIPS, and DISTS on VGG-16), built from AlexNet, VGG and SqueezeNet."""

from . import models, profiles
from .lpips.dists import DISTS
from .lpips.metric import LPIPS
from .models.backbones import resolve_backbone
from .profiles import get_profile, pick_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "LPIPS",
    "DISTS",
    "resolve_backbone",
    "models",
    "profiles",
    "get_profile",
    "pick_device",
    "seed_everything",
    "__version__",
]

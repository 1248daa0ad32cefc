"""lpips-edu: perceptual similarity (LPIPS), built from AlexNet, VGG and SqueezeNet."""

from . import models, profiles
from .backbones import book_backbone
from .lpips import LPIPS
from .profiles import get_profile, pick_device, seed_everything

__version__ = "0.1.0"

__all__ = ["LPIPS", "book_backbone", "models", "profiles", "get_profile", "pick_device", "seed_everything", "__version__"]

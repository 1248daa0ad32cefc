"""lpips-edu: perceptual similarity (LPIPS), built from AlexNet, VGG and SqueezeNet."""

import logging

from . import models, profiles
from .lpips.metric import LPIPS
from .models.backbones import resolve_backbone
from .profiles import get_profile, pick_device, seed_everything

__version__ = "0.1.0"

# torch.utils.benchmark imports torch.utils.cpp_extension, which logs "No CUDA runtime is found" on
# every CPU-only machine; the message is noise for this package's users (and stderr in the book).
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

__all__ = [
    "LPIPS",
    "resolve_backbone",
    "models",
    "profiles",
    "get_profile",
    "pick_device",
    "seed_everything",
    "__version__",
]

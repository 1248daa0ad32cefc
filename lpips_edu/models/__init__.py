"""The three architectures, built through one registry.

>>> from lpips_edu import models
>>> net = models.build("squeezenet1_1", num_classes=10)
>>> taps = net.forward_features(torch.rand(1, 3, 64, 64))
"""

from __future__ import annotations

import os

from torch import nn

from .alexnet import AlexNet, AlexNet2012
from .registry import MODELS, ModelSpec, available_models, get_spec
from .squeezenet import Fire, SqueezeNet
from .taps import FeatureTapsMixin
from .vgg import VGG, VGG_CONFIGS
from .weights import (
    WeightsNotAvailableError,
    imagenet_weights_file,
    load_checkpoint_state_dict,
    load_imagenet_state_dict,
    load_into,
)


def build(
    name: str,
    num_classes: int = 1000,
    weights: str | os.PathLike | None = None,
    dropout: float = 0.5,
    download: bool | None = None,
) -> nn.Module:
    """Build a registered model.

    ``weights``: ``None`` (random initialisation, as torchvision), ``"imagenet"``
    (torchvision's IMAGENET1K_V1 weights, from the torch hub cache, or downloaded
    when ``download=True`` or ``LPIPS_EDU_ALLOW_DOWNLOAD=1``), or the path of a
    checkpoint file (a state dict or a Trainer checkpoint).
    """
    spec = get_spec(name)
    if weights == "imagenet" and num_classes != 1000:
        raise ValueError(
            f"ImageNet weights have a 1000-class head but num_classes={num_classes}; build with "
            "num_classes=1000 and replace the last layer, or load only the features"
        )
    model = spec.builder(num_classes=num_classes, dropout=dropout)
    if weights is None:
        return model
    if weights == "imagenet":
        load_into(model, load_imagenet_state_dict(spec, download=download), f"ImageNet ({spec.weights_enum})")
    else:
        load_into(model, load_checkpoint_state_dict(weights), str(weights))
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "MODELS", "ModelSpec", "available_models", "get_spec", "build", "count_parameters",
    "AlexNet", "AlexNet2012", "VGG", "VGG_CONFIGS", "SqueezeNet", "Fire", "FeatureTapsMixin",
    "WeightsNotAvailableError", "imagenet_weights_file", "load_imagenet_state_dict",
    "load_checkpoint_state_dict", "load_into",
]


"""The three architectures, built through one registry.

>>> from lpips_edu import models
>>> net = models.build("squeezenet1_1", num_classes=10)
>>> taps = net.forward_features(torch.rand(1, 3, 64, 64))
"""

from __future__ import annotations

import os

from torch import nn

from .alexnet import AlexNet, AlexNet2012
from .imagenet_features import load_imagenet_features
from .registry import MODELS, ModelSpec, available_models, get_spec
from .squeezenet import Fire, SqueezeNet
from .taps import FeatureTapsMixin
from .vgg import VGG, VGG_CONFIGS
from .weights import (
    WeightsNotAvailableError,
    imagenet_weights_file,
    load_checkpoint_state_dict,
    load_features_into,
    load_imagenet_state_dict,
    load_into,
)

WEIGHT_CHOICES = ("None", "imagenet", "imagenet-features", "a checkpoint path")


def build(
    name: str,
    num_classes: int = 1000,
    weights: str | os.PathLike | None = None,
    dropout: float = 0.5,
    download: bool | None = None,
    features_only: bool = False,
) -> nn.Module:
    """Build a registered model.

    ``weights``:

    * ``None``: random initialisation, as torchvision;
    * ``"imagenet"``: torchvision's IMAGENET1K_V1 file, features *and* the
      1000-class classifier, from the torch hub cache (downloaded only when
      ``download=True`` or ``LPIPS_EDU_ALLOW_DOWNLOAD=1``);
    * ``"imagenet-features"``: ImageNet convolutions with a freshly initialised
      classifier of ``num_classes`` outputs, for LPIPS and transfer learning.
      They come from torchvision's file when cached, else from the offline copy
      that ``python -m lpips_edu weights fetch`` converts (AlexNet, VGG-16),
      fetched here on first use unless ``LPIPS_EDU_OFFLINE=1``;
    * the path of a checkpoint file (a state dict or a Trainer checkpoint).

    ``features_only=True`` replaces the classifier by ``nn.Identity()``: what
    LPIPS reads (the classifier is most of AlexNet's and VGG's weights).
    """
    spec = get_spec(name)
    if weights == "imagenet" and num_classes != 1000:
        raise ValueError(
            f"ImageNet weights have a 1000-class head but num_classes={num_classes}; use "
            "weights='imagenet-features' for ImageNet features with a new head of num_classes outputs"
        )
    model = spec.builder(num_classes=num_classes, dropout=dropout)
    if weights == "imagenet":
        load_into(model, load_imagenet_state_dict(spec, download=download), f"ImageNet ({spec.weights_enum})")
    elif weights == "imagenet-features":
        from .fetch_features import load_or_fetch_imagenet_features

        load_features_into(model, *load_or_fetch_imagenet_features(spec))
    elif weights is not None:
        looks_like_a_name = isinstance(weights, str) and not os.path.splitext(weights)[1] and os.sep not in weights
        if not isinstance(weights, (str, os.PathLike)) or (looks_like_a_name and not os.path.exists(weights)):
            raise ValueError(f"unknown weights={weights!r}; choose one of {', '.join(WEIGHT_CHOICES)}")
        load_into(model, load_checkpoint_state_dict(weights), str(weights))
    if features_only:
        model.classifier = nn.Identity()
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "MODELS", "ModelSpec", "available_models", "get_spec", "build", "count_parameters",
    "AlexNet", "AlexNet2012", "VGG", "VGG_CONFIGS", "SqueezeNet", "Fire", "FeatureTapsMixin",
    "WeightsNotAvailableError", "imagenet_weights_file", "load_imagenet_state_dict", "load_imagenet_features",
    "load_checkpoint_state_dict", "load_into", "load_features_into",
]


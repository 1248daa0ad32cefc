"""Which backbone a notebook (or the command line) can use right now, and what that means.

LPIPS is defined on ImageNet-trained networks. The book builds offline, where
those weights may be missing, so a chapter asks ``book_backbone(net)`` and gets
the best network available, in this order:

1. ImageNet weights from the torch hub cache (the real LPIPS);
2. a network trained by the book's own training chapter (a checkpoint file);
3. a randomly initialised network, seeded (random features still measure
   something, see the chapters, but not what the paper measured).

It returns the description with the model so the page can say which one ran.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from . import models
from .models.registry import LPIPS_NET_TO_MODEL


def load_backbone_features(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load only ``features.*`` from a checkpoint (its classifier may have any number of classes)."""
    state = models.load_checkpoint_state_dict(path)
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise ValueError(f"{path} has no 'features.*' weights; is it a checkpoint of a lpips_edu model?")
    models.load_into(model.features, features, str(path))
    return model


def book_backbone(net: str, seed: int = 0) -> tuple[nn.Module, str]:
    """The best available backbone for ``net`` ("alex", "vgg", "squeeze" or a registry name).

    Returns ``(model, description)``; the description names the weights used.
    """
    name = LPIPS_NET_TO_MODEL.get(net, net)
    spec = models.get_spec(name)
    try:
        return models.build(name, weights="imagenet"), f"{name} with ImageNet weights ({spec.weights_enum})"
    except (models.WeightsNotAvailableError, ValueError):
        pass
    from .calibrate.backbones import find_book_checkpoint  # local: calibrate imports much of the package

    checkpoint = find_book_checkpoint(name)
    if checkpoint is not None:
        model = load_backbone_features(models.build(name), checkpoint)
        return model, f"{name} trained by this book ({checkpoint}); not ImageNet weights"
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = models.build(name)
    torch.random.set_rng_state(generator_state)
    return model, (
        f"{name} with random weights (torchvision's initialisation, seed {seed}): no ImageNet weights "
        "or book checkpoint were found offline, so distances come from untrained features"
    )

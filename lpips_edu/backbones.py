"""Which backbone LPIPS runs on, and one sentence that says so: the only place that decides.

LPIPS is defined on ImageNet-trained networks. Every chapter, the command line,
calibration, the analysis and the graders ask ``resolve_backbone(net)`` and get
the best network present on this machine, in this order:

1. ``"imagenet"``: torchvision's file in the torch hub cache, else the ImageNet
   features converted by ``python -m lpips_edu weights fetch`` (AlexNet, VGG-16);
2. ``"book"``: the network the book's training chapter saved
   (``lpips_edu.paths.trained_checkpoint``), trained on the offline task;
3. ``"random"``: torchvision's initialisation, seeded: random features still
   measure something (see chapter 7) but not what the paper measured.

Asking for one kind (``weights="imagenet"``) raises if it is missing instead of
falling back. A cached file that fails its hash check is always an error, never a
reason to fall back. The model comes back features-only, in eval mode; the
caller's random number generator is left as it was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from torch import nn

from . import models
from .paths import runs_dir, trained_checkpoint
from .profiles import seeded

WEIGHT_KINDS = ("imagenet", "book", "random")


class Backbone(NamedTuple):
    model: nn.Module  # features-only (classifier = Identity), eval mode
    weights: str  # "imagenet", "book" or "random"
    description: str  # one sentence for the page


def find_book_checkpoint(net: str) -> Path | None:
    """The checkpoint the training chapter saved for ``net`` (an LPIPS or registry name), or None."""
    path = trained_checkpoint(models.get_spec(net).name)
    return path if path.is_file() else None


def load_backbone_features(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load only ``features.*`` from a checkpoint (its classifier may have any number of classes)."""
    models.load_features_into(model, models.load_checkpoint_state_dict(path), str(path))
    return model


def _imagenet(name: str, seed: int) -> tuple[nn.Module, str]:
    features, source = models.load_imagenet_features(models.get_spec(name))
    model = models.build(name, features_only=True)
    models.load_features_into(model, features, source)
    return model, f"{name}: ImageNet-trained features, {source}"


def _book(name: str, seed: int) -> tuple[nn.Module, str]:
    path = find_book_checkpoint(name)
    if path is None:
        raise models.WeightsNotAvailableError(
            f"no book-trained checkpoint for {name}: {trained_checkpoint(name)} is missing "
            f"(runs folder {runs_dir()}); run its training chapter first"
        )
    model = load_backbone_features(models.build(name, features_only=True), path)
    return model, f"{name}: trained by this book on the offline task ({path}), not on ImageNet"


def _random(name: str, seed: int) -> tuple[nn.Module, str]:
    return models.build(name, features_only=True), f"{name}: random weights (torchvision's initialisation, seed {seed})"


def available_weights(net: str) -> list[str]:
    """The kinds present for ``net``, in ``WEIGHT_KINDS`` order, found without building anything.

    A converted ImageNet file counts only if it passes its hash check.
    """
    from .models.imagenet_features import SOURCES, is_present

    spec = models.get_spec(net)
    found = []
    if spec.weights_enum is not None and models.imagenet_weights_file(spec)[1].is_file():
        found.append("imagenet")
    elif spec.name in SOURCES and is_present(spec.name):
        found.append("imagenet")
    if find_book_checkpoint(spec.name) is not None:
        found.append("book")
    return found + ["random"]


_LOADERS = {"imagenet": _imagenet, "book": _book, "random": _random}


def resolve_backbone(net: str, weights: str = "best", seed: int = 0) -> Backbone:
    """The backbone for ``net`` ("alex", "vgg", "squeeze" or a registry name).

    ``weights``: "best" (the first present of imagenet, book, random) or one of
    ``WEIGHT_KINDS``, which must then be present. ``seed`` seeds random weights.
    """
    name = models.get_spec(net).name
    if weights not in ("best", *WEIGHT_KINDS):
        raise ValueError(f"unknown backbone weights {weights!r}; choose 'best' or one of {WEIGHT_KINDS}")
    skipped = []
    for kind in WEIGHT_KINDS if weights == "best" else (weights,):
        with seeded(seed):  # random weights from the seed; the caller's random numbers undisturbed
            try:
                model, description = _LOADERS[kind](name, seed)
            except models.WeightsNotAvailableError as exc:
                if weights != "best":
                    raise
                skipped.append(f"{kind}: {exc}")
                continue
        if kind == "random" and weights == "best":
            description += "; no ImageNet features or book checkpoint were found, so these are untrained features"
        return Backbone(model.eval(), kind, description)
    raise AssertionError(f"no backbone for {name}: {skipped}")  # random is always available

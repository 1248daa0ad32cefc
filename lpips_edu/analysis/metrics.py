"""One LPIPS metric per registered backbone, built the same way for every measurement.

The backbone comes from ``lpips_edu.resolve_backbone`` (ImageNet features when
the machine has them, else a book-trained or a seeded random network) and the
description says which, so every table can state what it measured. Networks
with official LPIPS heads (alexnet, vgg16, squeezenet1_1) use them; any other
registered network runs uncalibrated (``lpips=False``: every channel weighs 1).
"""

from __future__ import annotations

from functools import lru_cache

from torch import nn

from .. import models
from ..backbones import resolve_backbone
from ..lpips import LPIPS
from ..profiles import seeded


@lru_cache(maxsize=None)
def _backbone(name: str, seed: int, weights: str = "best") -> tuple[nn.Module, str, str]:
    resolved = resolve_backbone(name, weights, seed=seed)
    return resolved.model, resolved.description, resolved.weights


def backbone_description(name: str, seed: int = 0) -> str:
    """Which weights the analysis of ``name`` uses (a sentence for the page)."""
    return _backbone(name, seed)[1]


def backbone_kind(name: str, seed: int = 0) -> str:
    """"imagenet", "book" or "random": the kind of weights the analysis of ``name`` uses."""
    return _backbone(name, seed)[2]


def has_official_heads(name: str) -> bool:
    return models.get_spec(name).lpips_net is not None


def make_lpips(name: str, seed: int = 0, weights: str = "best", **kwargs) -> LPIPS:
    """A fresh LPIPS metric on the cached backbone (LPIPS works on its own copy); ``kwargs`` go to ``LPIPS``.

    ``weights``: the backbone kind, as ``lpips_edu.resolve_backbone`` takes it ("best" by default).
    """
    net = models.get_spec(name).lpips_net
    return LPIPS(net=net, backbone=_backbone(name, seed, weights)[0], heads="official" if net else None, **kwargs)


def full_model(name: str, seed: int = 0) -> nn.Module:
    """The whole classification network (features + classifier), seeded random weights: for forward timings."""
    with seeded(seed):
        return models.build(name).eval()

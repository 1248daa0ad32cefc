"""One LPIPS metric per registered backbone, built the same way for every measurement.

The backbone comes from ``lpips_edu.resolve_backbone`` (ImageNet features when
the machine has them, else a book-trained or a seeded random network) and the
description says which, so every table can state what it measured. Networks
with official LPIPS heads (alexnet, vgg16, squeezenet1_1) use them; any other
registered network runs uncalibrated (``lpips=False``: every channel weighs 1).
"""

from __future__ import annotations

import copy
from functools import lru_cache

from torch import nn

from .. import models
from ..backbones import resolve_backbone
from ..lpips import LPIPS


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
    """A fresh LPIPS metric on (a copy of) the cached backbone; ``kwargs`` go to ``LPIPS`` (precision, ...).

    ``weights``: the backbone kind, as ``lpips_edu.resolve_backbone`` takes it ("best" by default).
    """
    backbone = copy.deepcopy(_backbone(name, seed, weights)[0])
    spec = models.get_spec(name)
    calibrated = spec.lpips_net is not None
    # `net` only names the heads file; without heads (lpips=False) it is not read.
    return LPIPS(net=spec.lpips_net or "alex", lpips=calibrated, pretrained=calibrated, backbone=backbone, **kwargs)


def full_model(name: str, seed: int = 0) -> nn.Module:
    """The whole classification network (features + classifier), seeded random weights: for forward timings."""
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = models.build(name)
    torch.random.set_rng_state(state)
    return model.eval()

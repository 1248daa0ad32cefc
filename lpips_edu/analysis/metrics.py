"""One LPIPS metric per registered backbone, built the same way for every measurement.

The backbone comes from ``lpips_edu.resolve_backbone`` through ``LPIPS``
(ImageNet features when the machine has them, else a book-trained or a seeded
random network) and the metric's ``weights_description`` says which, so every
table can state what it measured. Networks with official LPIPS heads (alexnet,
vgg16, squeezenet1_1) use them; any other registered network runs
uncalibrated (no heads: every channel weighs 1).
"""

from __future__ import annotations

from torch import nn

from .. import models
from ..lpips.metric import LPIPS
from ..models.backbones import Backbone, resolve_backbone
from ..profiles import seeded


def analysed_backbone(name: str, seed: int = 0) -> Backbone:
    """The backbone the analysis of ``name`` uses: the best present (``Backbone.weights`` says which kind)."""
    return resolve_backbone(name, "best", seed=seed)


def make_lpips(name: str, seed: int = 0, weights: str = "best", **kwargs) -> LPIPS:
    """LPIPS on the registered network ``name``, with its official heads if it has any; ``kwargs`` go to ``LPIPS``.

    ``weights``: the backbone kind, as ``lpips_edu.resolve_backbone`` takes it ("best" by default).
    """
    heads = "official" if models.get_spec(name).lpips_net else None
    return LPIPS(net=name, backbone=weights, heads=heads, seed=seed, **kwargs)


def full_model(name: str, seed: int = 0) -> nn.Module:
    """The whole classification network (features + classifier), seeded random weights: for forward timings."""
    with seeded(seed):
        return models.build(name).eval()


def device_of(metric: nn.Module) -> str:
    """The device type a metric computes on ("cpu", "cuda"): what every table row states it was measured on."""
    return next(metric.parameters()).device.type

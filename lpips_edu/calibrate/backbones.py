"""The metric a calibration run scores or trains: a backbone (random, book, ImageNet) and heads.

The backbone comes from ``lpips_edu.backbones.resolve_backbone``, the one place
that decides which weights are used, and the sentence it returns travels with
the metric, so every table can say what it measured.
"""

from __future__ import annotations

import os

from torch import nn

from ..backbones import WEIGHT_KINDS, resolve_backbone
from ..lpips import LPIPS
from ..models.registry import lpips_net_name
from ..profiles import seeded


def make_metric(net: str = "alex", backbone: str = "random", heads: str | os.PathLike = "official",
                seed: int = 0) -> tuple[nn.Module, str]:
    """An LPIPS metric and a sentence saying what it is made of.

    ``backbone``: "imagenet", "book", "random" (``lpips_edu.backbones``; a
    missing kind raises ``FileNotFoundError``) or "best" (the first present).
    ``heads``: "official" (the paper's heads from the lpips wheel), "fresh"
    (untrained; set before training), or the path of a heads file.
    """
    lpips_net_name(net)
    if backbone not in ("best", *WEIGHT_KINDS):
        raise ValueError(f"unknown backbone {backbone!r}; choose 'best' or one of {WEIGHT_KINDS}")
    resolved = resolve_backbone(net, backbone, seed=seed)
    with seeded(seed):  # fresh heads are the same on every run
        metric = LPIPS(net=net, backbone=resolved.model, heads=heads)
    heads_what = {"official": "the paper's linear heads", "fresh": "untrained heads"}.get(
        str(heads), f"heads from {heads}"
    )
    return metric.eval(), f"{resolved.description}; {heads_what}"

"""Which backbone a calibration run uses: random, book-trained, or ImageNet-trained.

The paper calibrates heads on ImageNet backbones. Offline we may have none,
so every choice falls back honestly and says what it used:

* ``"random"``: a seeded, randomly initialised backbone (always available);
* ``"book"``: the checkpoint the book's trainer saved (chapter on training),
  found by ``find_book_checkpoint``;
* ``"imagenet"``: torchvision's weights, when they are in the torch hub cache.

``make_metric`` prefers this package's ``lpips_edu.LPIPS`` and falls back to
the reference ``lpips.LPIPS`` (same constructor and call), so the code here
runs against either.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..models import get_spec, imagenet_weights_file
from ..paths import runs_dir, trained_checkpoint

LPIPS_NETS = ("alex", "vgg", "squeeze")


def find_book_checkpoint(net: str) -> Path | None:
    """The checkpoint of the book-trained backbone for ``net`` ("alex", "vgg", "squeeze" or a model name), or None.

    The file is where the training chapters save it, ``lpips_edu.paths.trained_checkpoint``.
    """
    path = trained_checkpoint(get_spec(net).name)
    return path if path.is_file() else None


def imagenet_available(net: str) -> bool:
    """Whether torchvision's ImageNet weights for ``net`` are in the local torch hub cache (no download)."""
    try:
        return imagenet_weights_file(get_spec(net))[1].is_file()
    except ValueError:
        return False


def best_backbone(net: str) -> str:
    """The most meaningful backbone present offline: "imagenet", else "book", else "random"."""
    if imagenet_available(net):
        return "imagenet"
    if find_book_checkpoint(net) is not None and "lpips_edu" in lpips_class().__module__:
        return "book"
    return "random"


def lpips_class():
    """``lpips_edu.LPIPS`` when this package has it, else the reference ``lpips.LPIPS``."""
    try:
        from ..lpips import LPIPS
    except ImportError:
        from lpips import LPIPS
    return LPIPS


def make_metric(net: str = "alex", backbone: str = "random", heads: str | os.PathLike = "official",
                seed: int = 0) -> tuple[nn.Module, str]:
    """An LPIPS metric and a sentence saying what it is made of.

    ``backbone``: "random", "book", "imagenet" (see the module docstring) or
    "best" (the first available of imagenet, book, random);
    a missing book checkpoint or ImageNet file raises ``FileNotFoundError``.
    ``heads``: "official" (the paper's heads from the lpips wheel), "fresh"
    (untrained; set before training), or the path of a heads file.
    """
    if net not in LPIPS_NETS:
        raise ValueError(f"unknown net {net!r}; choose one of {LPIPS_NETS}")
    if backbone == "best":
        return make_metric(net, best_backbone(net), heads, seed)
    LPIPS = lpips_class()
    model_path = None if heads in ("official", "fresh") else Path(heads)
    kwargs = {"net": net, "pretrained": heads != "fresh", "model_path": model_path}
    if "lpips_edu" in LPIPS.__module__:
        kwargs["verbose"] = False
    torch.manual_seed(seed)  # a random backbone is the same on every run
    if backbone == "random":
        metric = LPIPS(pnet_rand=True, **kwargs)
        what = f"randomly initialised {get_spec(net).name} (seed {seed})"
    elif backbone == "imagenet":
        if not imagenet_available(net):
            raise FileNotFoundError(
                f"ImageNet weights for {get_spec(net).name} are not in {imagenet_weights_file(get_spec(net))[1].parent}; "
                "see chapter 1 for where to put them"
            )
        metric = LPIPS(pnet_rand=False, **kwargs)
        what = f"ImageNet-trained {get_spec(net).name} (torchvision weights)"
    elif backbone == "book":
        path = find_book_checkpoint(net)
        if path is None:
            raise FileNotFoundError(
                f"no book-trained checkpoint for {get_spec(net).name} in {runs_dir()}; "
                "train one with the training chapter first"
            )
        if "lpips_edu" not in LPIPS.__module__:
            raise FileNotFoundError("book-trained backbones need lpips_edu.LPIPS (backbone=...), not found")
        from .. import models
        from ..backbones import load_backbone_features

        model = load_backbone_features(models.build(get_spec(net).name), path)  # features only, strictly
        model.classifier = nn.Identity()
        metric = LPIPS(backbone=model, **kwargs)
        what = f"book-trained {get_spec(net).name} ({path})"
    else:
        raise ValueError(f"unknown backbone {backbone!r}; choose 'random', 'book', 'imagenet' or 'best'")
    heads_what = {"official": "the paper's linear heads", "fresh": "untrained heads"}.get(str(heads), f"heads from {heads}")
    return metric.eval(), f"{what} with {heads_what} [{LPIPS.__module__}.LPIPS]"

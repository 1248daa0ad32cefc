"""The peers, built on the same backbone weights as ours, offline: ``lpips.LPIPS`` and torchmetrics' DISTS.

``lpips.LPIPS`` always builds its own torchvision backbone (ImageNet weights,
downloaded, unless ``pnet_rand=True``) and cuts its ``features`` into slices
``slice{k}.{index}.*``. To compare numbers we build it with a random backbone
and copy our ``features`` into the slices, so both sides run identical weights.
torchmetrics' ``DISTSNetwork`` has no such switch: it always asks torchvision
for ImageNet VGG-16 (a download), so it is built while torchvision's ``vgg16``
is answered with a VGG-16 that holds our features.
"""

from __future__ import annotations

import contextlib
import re
from unittest import mock

import torch
from torch import nn

_SLICE_PREFIX = re.compile(r"^(slice\d+|slices\.\d+)\.")  # lpips: slice1.0.weight; torchmetrics: slices.0.0.weight


def copy_features_into_slices(features: nn.Sequential, slices: nn.Module) -> None:
    """Load a ``features`` Sequential into lpips'/torchmetrics' sliced copy of it (strictly)."""
    ours = features.state_dict()
    slices.load_state_dict({k: ours[_SLICE_PREFIX.sub("", k)] for k in slices.state_dict()}, strict=True)


@contextlib.contextmanager
def skip_random_init():
    """Make ``torch.nn.init`` a no-op: the peer's random backbone is overwritten at once (saves seconds for VGG)."""
    names = ["kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_", "constant_"]
    saved = {n: getattr(nn.init, n) for n in names}
    for n in names:
        setattr(nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


def peer_lpips(net: str, backbone: nn.Module, **kwargs) -> nn.Module:
    """``lpips.LPIPS(net=net, pnet_rand=True, **kwargs)`` with ``backbone.features`` copied in, in eval mode."""
    import warnings

    import lpips

    # lpips 0.1.4 calls torchvision with the deprecated `pretrained=` argument; the warning is theirs.
    with skip_random_init(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
        ref = lpips.LPIPS(net=net, pnet_rand=True, verbose=False, **kwargs)
    features = backbone.features
    if next(features.parameters()).dtype != torch.float32:
        raise ValueError("copy the backbone before casting it: the lpips package runs in float32")
    copy_features_into_slices(features, ref.net)
    return ref.eval()


def peer_dists(backbone: nn.Module) -> nn.Module:
    """torchmetrics' ``DISTSNetwork`` (its own alpha/beta file) on ``backbone.features``, in eval mode; takes [0, 1]."""
    import torchvision
    from torchmetrics.functional.image import dists

    features = backbone.features
    if next(features.parameters()).dtype != torch.float32:
        raise ValueError("copy the backbone before casting it: torchmetrics' DISTS runs in float32")

    def vgg16_with_our_features(weights=None, **kwargs) -> nn.Module:
        with skip_random_init():  # every weight it reads is replaced at once
            vgg = torchvision.models.vgg16(weights=None)
        vgg.features.load_state_dict(features.state_dict(), strict=True)  # copied in: ours stays apart
        return vgg

    with mock.patch.object(dists, "vgg16", vgg16_with_our_features):
        return dists.DISTSNetwork(load_weights=True).eval()

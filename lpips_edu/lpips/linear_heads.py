"""LPIPS's linear heads: one 1 x 1 convolution per tap, and the files they live in.

A head weights the squared differences of unit-normalised features channel by
channel. The metric holds them as ``lin0 ... linL`` (``lpips.LPIPS`` and
``lpips_edu.LPIPS`` alike), and a heads file is a state dict under the official
keys ``lin{k}.model.1.weight`` (1 x C x 1 x 1), the format of
``lpips/weights/v0.1/alex.pth``. This module is the only place that reads,
checks and writes them: the metric, calibration and the command line use it.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import torch
from torch import nn

from ..io import read_torch_file, save_torch_atomic, state_dict_mismatch, tensor_dict
from ..models.registry import lpips_net_name

VERSIONS = ("0.1", "0.0")
HEAD_PREFIX = re.compile(r"^lin(\d+)\.")


class NetLinLayer(nn.Module):
    """One linear head: dropout then a 1x1 convolution to one channel, no bias.

    The dropout slot is always there (an ``Identity`` without dropout) so the
    state dict keys are always ``model.1.weight``, as in the official files.
    """

    def __init__(self, channels: int, use_dropout: bool = True) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Dropout() if use_dropout else nn.Identity(),
            nn.Conv2d(channels, 1, kernel_size=1, stride=1, padding=0, bias=False),
        )

    @property
    def weight(self) -> torch.Tensor:
        return self.model[1].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def official_heads_file(net: str, version: str = "0.1") -> Path:
    """The linear heads shipped in the ``lpips`` wheel: ``lpips/weights/v{version}/{net}.pth``.

    The package is located, not imported: importing ``lpips`` pulls in
    torchvision's model zoo, seconds of start-up for a file path.
    """
    net = lpips_net_name(net)
    if version not in VERSIONS:
        raise ValueError(f"unknown LPIPS version {version!r}; choose '0.1' (current) or '0.0' (the first release)")
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the official LPIPS linear weights ship inside the 'lpips' package; install it with "
            "pip install 'lpips-edu[peers]' (or pip install lpips), or pass heads=PATH (a heads file) "
            "or heads=None (no heads)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / f"v{version}" / f"{net}.pth"


def read_heads_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A heads file as a state dict (also a calibration checkpoint's ``"heads"`` entry), read safely."""
    obj = read_torch_file(path, "LPIPS linear weights", "pass a heads file saved by the calibration code "
                          "(heads=PATH), or heads=None for the uncalibrated baseline")
    return tensor_dict(obj, str(path), wrapper_keys=("heads",))


def head_modules(metric: nn.Module) -> dict[int, nn.Conv2d]:
    """The 1 x 1 convolution of every linear head, by layer index (``lin3`` -> 3)."""
    heads: dict[int, nn.Conv2d] = {}
    for name, module in metric.named_modules():
        match = HEAD_PREFIX.match(name + ".")
        if match and isinstance(module, nn.Conv2d):
            index = int(match.group(1))
            if index in heads:
                raise ValueError(f"head lin{index} holds more than one convolution")
            heads[index] = module
    if not heads:
        raise ValueError(
            f"{type(metric).__name__} has no linear heads (modules named lin0, lin1, ...); "
            "build the metric with heads (lpips=True)"
        )
    return dict(sorted(heads.items()))


def heads_state_dict(metric: nn.Module) -> dict[str, torch.Tensor]:
    """The heads under the official file's keys (``lin0.model.1.weight`` ...), whatever the metric calls them."""
    return {f"lin{i}.model.1.weight": conv.weight.detach().cpu().clone() for i, conv in head_modules(metric).items()}


def save_heads(metric: nn.Module, path: str | os.PathLike) -> Path:
    """Write the heads like ``lpips/weights/v0.1/<net>.pth``, atomically."""
    return save_torch_atomic(heads_state_dict(metric), path)


@torch.no_grad()
def load_heads(metric: nn.Module, path: str | os.PathLike) -> None:
    """Load a heads file into any metric with ``lin*`` heads, strictly: every head, nothing extra, same shapes."""
    state = read_heads_file(path)
    heads = head_modules(metric)
    expected = {f"lin{i}.model.1.weight": tuple(conv.weight.shape) for i, conv in heads.items()}
    mismatch = state_dict_mismatch(expected, state)
    if mismatch:
        channels = [conv.weight.shape[1] for conv in heads.values()]
        raise ValueError(
            f"LPIPS linear weights {path} do not fit this metric's heads (tap channels {channels}): {mismatch}. "
            "Heads trained for one backbone (alex, vgg, squeeze) do not fit another; use heads made for "
            "the same net and backbone."
        )
    for i, conv in heads.items():
        conv.weight.copy_(state[f"lin{i}.model.1.weight"])

"""The small networks trained on human judgements, and saving them in the official format.

LPIPS's *linear heads* are 1 x 1 convolutions, one per tapped layer, that
weight the squared differences of unit-normalised features channel by
channel; they live in the metric as ``lin0 ... linL`` (``lpips.LPIPS`` and
``lpips_edu.LPIPS`` alike). Training them needs a second network that turns
two distances into a prediction of the human judgement: ``Dist2LogitLayer``.
It is thrown away after training.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import torch
from torch import nn

HEAD_PREFIX = re.compile(r"^lin(\d+)\.")


class Dist2LogitLayer(nn.Module):
    """(d0, d1) -> probability that people chose p1, from 5 features of the pair (as the reference).

    Features ``d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)`` go through
    two 32-unit layers with LeakyReLU(0.2) and a sigmoid. Written with 1 x 1
    convolutions over N x 5 x 1 x 1 inputs, like the reference, so its state
    dict is interchangeable with ``lpips.Dist2LogitLayer``'s.
    """

    def __init__(self, chn_mid: int = 32, use_sigmoid: bool = True):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(5, chn_mid, 1, bias=True),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(chn_mid, chn_mid, 1, bias=True),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(chn_mid, 1, 1, bias=True),
        ]
        if use_sigmoid:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)

    def forward(self, d0: torch.Tensor, d1: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
        d0, d1 = d0.reshape(-1, 1, 1, 1), d1.reshape(-1, 1, 1, 1)
        return self.model(torch.cat((d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)), dim=1))


class BCERankingLoss(nn.Module):
    """Binary cross-entropy between ``Dist2LogitLayer(d0, d1)`` and the judgement ``h`` in [0, 1].

    The reference passes ``2h - 1`` and maps it back with ``(j + 1) / 2``; we
    take ``h`` directly, which is the same loss.
    """

    def __init__(self, chn_mid: int = 32):
        super().__init__()
        self.net = Dist2LogitLayer(chn_mid=chn_mid)
        self.loss = nn.BCELoss()

    def forward(self, d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
        logit = self.net(d0, d1)
        return self.loss(logit, judge.reshape(logit.shape).to(logit.dtype))


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
            "build the metric with lpips=True"
        )
    return dict(sorted(heads.items()))


def is_head_parameter(name: str) -> bool:
    return HEAD_PREFIX.match(name) is not None


@torch.no_grad()
def clamp_heads(metric: nn.Module) -> None:
    """Keep every head weight >= 0, so that a distance is a sum of non-negative terms.

    Only the heads: the reference clamps *every* 1 x 1 convolution of the
    metric, which with a trainable SqueezeNet trunk also clamps its 1 x 1
    squeeze/expand layers. We keep the trunk untouched.
    """
    for conv in head_modules(metric).values():
        conv.weight.clamp_(min=0)


@torch.no_grad()
def reset_heads(metric: nn.Module, seed: int | None = None) -> None:
    """Fresh heads before training: PyTorch's default convolution initialisation, as the reference."""
    if seed is not None:
        torch.manual_seed(seed)
    for conv in head_modules(metric).values():
        conv.reset_parameters()


def heads_state_dict(metric: nn.Module) -> dict[str, torch.Tensor]:
    """The heads under the official file's keys (``lin0.model.1.weight`` ...), whatever the metric calls them."""
    return {f"lin{i}.model.1.weight": conv.weight.detach().cpu().clone() for i, conv in head_modules(metric).items()}


def save_heads(metric: nn.Module, path: str | os.PathLike) -> Path:
    """Write the heads like ``lpips/weights/v0.1/<net>.pth`` (atomically: temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(heads_state_dict(metric), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


@torch.no_grad()
def load_heads(metric: nn.Module, path: str | os.PathLike) -> None:
    """Load heads from an official-format file into any metric with ``lin*`` heads, strictly."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    heads = head_modules(metric)
    expected = {f"lin{i}.model.1.weight" for i in heads}
    if set(state) != expected:
        raise ValueError(
            f"{path} holds {sorted(state)} but the metric has heads {sorted(expected)}; "
            "heads trained for one backbone (alex, vgg, squeeze) do not fit another"
        )
    for i, conv in heads.items():
        weight = state[f"lin{i}.model.1.weight"]
        if weight.shape != conv.weight.shape:
            raise ValueError(f"lin{i}: file has shape {tuple(weight.shape)}, metric {tuple(conv.weight.shape)}")
        conv.weight.copy_(weight)

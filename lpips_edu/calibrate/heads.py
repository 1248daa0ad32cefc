"""Training LPIPS's linear heads on human judgements: the helper network, the loss, the constraints.

The heads are 1 x 1 convolutions, one per tapped layer, that weight the
squared differences of unit-normalised features channel by channel
(``lpips_edu.lpips.linear_heads``). Training them needs a second network that turns
two distances into a prediction of the human judgement: ``Dist2LogitLayer``.
It is thrown away after training.
"""

from __future__ import annotations

import torch
from torch import nn

# The heads themselves, and their files, belong to the metric (lpips_edu.lpips.linear_heads).
from ..lpips.linear_heads import HEAD_PREFIX, head_modules


class Dist2LogitLayer(nn.Module):
    """(d0, d1) -> probability that people chose p1, from 5 features of the pair (as the reference).

    Features ``d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)`` go through
    two 32-unit layers with LeakyReLU(0.2) and a sigmoid. Written with 1 x 1
    convolutions over N x 5 x 1 x 1 inputs, like the lpips package's, so its state
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

    The lpips package passes ``2h - 1`` and maps it back with ``(j + 1) / 2``; we
    take ``h`` directly, which is the same loss.
    """

    def __init__(self, chn_mid: int = 32):
        super().__init__()
        self.net = Dist2LogitLayer(chn_mid=chn_mid)
        self.loss = nn.BCELoss()

    def forward(self, d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
        logit = self.net(d0, d1)
        return self.loss(logit, judge.reshape(logit.shape).to(logit.dtype))


def is_head_parameter(name: str) -> bool:
    return HEAD_PREFIX.match(name) is not None


@torch.no_grad()
def clamp_heads(metric: nn.Module) -> None:
    """Keep every head weight >= 0, so that a distance is a sum of non-negative terms.

    Only the heads: the lpips package clamps *every* 1 x 1 convolution of the
    metric, which with a trainable SqueezeNet trunk also clamps its 1 x 1
    squeeze/expand layers. We keep the trunk untouched.
    """
    for conv in head_modules(metric).values():
        conv.weight.clamp_(min=0)


@torch.no_grad()
def reset_heads(metric: nn.Module, seed: int | None = None) -> None:
    """Fresh heads before training: PyTorch's default convolution initialisation, as the lpips package."""
    if seed is not None:
        torch.manual_seed(seed)
    for conv in head_modules(metric).values():
        conv.reset_parameters()

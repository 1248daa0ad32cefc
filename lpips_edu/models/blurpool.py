"""Anti-aliasing (BlurPool, Zhang 2019): blur before subsampling, inserted into a trained AlexNet.

A stride-2 layer keeps every other value. A pattern that moves by one pixel
then lands on the other half of the grid, and its features change far more
than the image did: the network aliases. Zhang (2019) splits every strided
layer into its stride-1 version and a ``BlurPool``: a small low-pass filter
(binomial, [1, 2, 1] x [1, 2, 1] / 16 at size 3), then the subsampling.

``antialiased_alexnet`` does that to a trained AlexNet *without retraining*:

* conv1 (11 x 11, stride 4) becomes the same convolution at stride 2, then
  ReLU, then a BlurPool of stride 2;
* each 3 x 3 / stride-2 max pool becomes a stride-1 max pool, then a BlurPool.

Every tap keeps its index in ``features`` (a replaced layer becomes a small
``nn.Sequential``) and its size, so the official LPIPS heads still fit. With
``filter_size=1`` the blur is the identity and the network is exactly the
original (the test of this module); with a real filter it is an
*approximation*: the weights were trained on the aliased network. The
shift-tolerant LPIPS of Ghildyal & Liu (2022) retrains instead.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .alexnet import AlexNet

__all__ = ["BlurPool", "antialiased_alexnet", "binomial_filter"]


def binomial_filter(size: int) -> torch.Tensor:
    """The 2-D binomial low-pass filter of ``size`` taps per side (rows of Pascal's triangle), summing to 1."""
    if size < 1:
        raise ValueError(f"filter size must be >= 1, got {size}")
    row = torch.tensor([float(math.comb(size - 1, k)) for k in range(size)])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class BlurPool(nn.Module):
    """Blur each channel with a binomial filter (reflect padding), then keep every ``stride``-th value."""

    def __init__(self, channels: int, stride: int = 2, filter_size: int = 3) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.channels, self.stride, self.filter_size = channels, stride, filter_size
        self.register_buffer("kernel", binomial_filter(filter_size)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"BlurPool built for {self.channels} channels got {x.shape[1]}")
        low, high = (self.filter_size - 1) // 2, self.filter_size // 2
        if high:
            x = F.pad(x, (low, high, low, high), mode="reflect")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, stride={self.stride}, filter_size={self.filter_size}"


def antialiased_alexnet(model: AlexNet, filter_size: int = 3) -> AlexNet:
    """A copy of a (trained) torchvision-layout AlexNet with BlurPool before every subsampling; no retraining."""
    if not isinstance(model, AlexNet):
        raise TypeError(f"antialiased_alexnet takes an lpips_edu AlexNet, got {type(model).__name__}")
    out = copy.deepcopy(model)
    features = out.features
    conv1 = features[0]
    if not (isinstance(conv1, nn.Conv2d) and conv1.stride == (4, 4)):
        raise ValueError("features[0] is not AlexNet's stride-4 conv1; is this network antialiased already?")
    conv1.stride = (2, 2)
    features[1] = nn.Sequential(nn.ReLU(inplace=False), BlurPool(conv1.out_channels, 2, filter_size))
    channels = conv1.out_channels
    for i, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            channels = layer.out_channels
        if isinstance(layer, nn.MaxPool2d):
            features[i] = nn.Sequential(nn.MaxPool2d(layer.kernel_size, stride=1),
                                        BlurPool(channels, 2, filter_size))
    out.min_input_size = _smallest_input(out, model.min_input_size)
    return out


@torch.no_grad()
def _smallest_input(model: AlexNet, start: int) -> int:
    """The smallest square input whose every tap exists (reflect padding needs two values to mirror)."""
    for size in range(start, 4 * start):
        try:
            run = model.features[: max(model.lpips_taps.values()) + 1]
            run(torch.zeros(1, 3, size, size, dtype=next(model.parameters()).dtype))
            return size
        except RuntimeError:
            continue
    raise ValueError(f"no input size below {4 * start} px fits this network")

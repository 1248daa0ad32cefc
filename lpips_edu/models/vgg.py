"""VGG (Simonyan & Zisserman, 2014), configurations A, B, D and E.

A VGG network is a list of numbers: each number is a 3x3 convolution with
that many output channels followed by a ReLU (and, in the ``_bn`` variants, a
batch normalisation before the ReLU); each ``"M"`` is a 2x2 max pool. The
same ``features`` / ``avgpool`` / ``classifier`` layout and initialisation as
torchvision make ``state_dict`` keys and random draws identical.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .taps import FeatureTapsMixin

# The paper's Table 1. "11/13/16/19" counts the weight layers (convs + 3 FC).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ],
}
DEPTH_TO_CONFIG = {11: "A", 13: "B", 16: "D", 19: "E"}

# Five 2x2 pools: the last tap (before the fifth pool) needs 16 px, the classifier 32 px.
VGG_MIN_FEATURES = 16
VGG_MIN_CLASSIFIER = 32


def make_features(config: list[int | str], batch_norm: bool) -> nn.Sequential:
    """Turn a configuration list into the ``features`` Sequential."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        in_channels = int(v)
    return nn.Sequential(*layers)


def block_taps(features: nn.Sequential) -> "OrderedDict[str, int]":
    """Name the last ReLU of every block ``relu{block}_{conv}``, as LPIPS does for VGG-16.

    For VGG-16 this gives relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
    """
    taps: OrderedDict[str, int] = OrderedDict()
    block, conv, last_relu = 1, 0, None
    for i, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            conv += 1
        elif isinstance(layer, nn.ReLU):
            last_relu = i
        elif isinstance(layer, nn.MaxPool2d):
            taps[f"relu{block}_{conv}"] = last_relu
            block, conv = block + 1, 0
    return taps


class VGG(FeatureTapsMixin, nn.Module):
    """VGG-11/13/16/19, with or without batch normalisation."""

    min_input_size = VGG_MIN_FEATURES
    min_classifier_input_size = VGG_MIN_CLASSIFIER

    def __init__(
        self,
        config: str = "D",
        batch_norm: bool = False,
        num_classes: int = 1000,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if config not in VGG_CONFIGS:
            raise ValueError(f"unknown VGG configuration {config!r}; choose one of {list(VGG_CONFIGS)}")
        self.config = config
        self.features = make_features(VGG_CONFIGS[config], batch_norm)
        self.lpips_taps = block_taps(self.features)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # He initialisation for convolutions keeps activations from vanishing in
        # deep plain ReLU stacks; the paper itself needed to pre-train the
        # shallow net A to initialise the deeper ones before this was known.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, self.min_classifier_input_size, "forward")
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

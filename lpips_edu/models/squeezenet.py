"""SqueezeNet (Iandola et al., 2016), versions 1.0 and 1.1.

The building block is the Fire module: a 1x1 "squeeze" convolution that cuts
the channel count, then parallel 1x1 and 3x3 "expand" convolutions whose
outputs are concatenated. Most weights live in 1x1 kernels, which is how
SqueezeNet reaches AlexNet-level ImageNet accuracy with 50x fewer parameters.
Version 1.1 starts with a 3x3/64 convolution instead of 7x7/96 and pools
earlier, for 2.4x less computation at the same accuracy.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .taps import FeatureTapsMixin


class Fire(nn.Module):
    """squeeze (1x1) -> [expand 1x1 | expand 3x3] concatenated on channels."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))],
            1,
        )


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


def _features_1_0() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 96, kernel_size=7, stride=2),  # 0 conv1
        nn.ReLU(inplace=True),  # 1 relu1
        _pool(),
        Fire(96, 16, 64, 64),  # 3 fire2
        Fire(128, 16, 64, 64),  # 4 fire3
        Fire(128, 32, 128, 128),  # 5 fire4
        _pool(),
        Fire(256, 32, 128, 128),  # 7 fire5
        Fire(256, 48, 192, 192),  # 8 fire6
        Fire(384, 48, 192, 192),  # 9 fire7
        Fire(384, 64, 256, 256),  # 10 fire8
        _pool(),
        Fire(512, 64, 256, 256),  # 12 fire9
    )


def _features_1_1() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2),  # 0 conv1
        nn.ReLU(inplace=True),  # 1 relu1
        _pool(),
        Fire(64, 16, 64, 64),  # 3 fire2
        Fire(128, 16, 64, 64),  # 4 fire3
        _pool(),
        Fire(128, 32, 128, 128),  # 6 fire4
        Fire(256, 32, 128, 128),  # 7 fire5
        _pool(),
        Fire(256, 48, 192, 192),  # 9 fire6
        Fire(384, 48, 192, 192),  # 10 fire7
        Fire(384, 64, 256, 256),  # 11 fire8
        Fire(512, 64, 256, 256),  # 12 fire9
    )


# 1.1: the seven taps of the lpips package (features[0:2], [2:5], [5:8], [8:10], [10], [11], [12]).
# 1.0: the analogous taps with the same channel widths 128/256/384/384/512/512 after relu1.
SQUEEZENET_TAPS = {
    "1_0": OrderedDict(relu1=1, fire3=4, fire4=5, fire6=8, fire7=9, fire8=10, fire9=12),
    "1_1": OrderedDict(relu1=1, fire3=4, fire5=7, fire6=9, fire7=10, fire8=11, fire9=12),
}
# Smallest input with every tap non-empty (ceil-mode pools), and for the classifier.
SQUEEZENET_MIN_FEATURES = {"1_0": 21, "1_1": 17}
SQUEEZENET_MIN_CLASSIFIER = SQUEEZENET_MIN_FEATURES


class SqueezeNet(FeatureTapsMixin, nn.Module):
    """SqueezeNet 1.0 (1,248,424 parameters) or 1.1 (1,235,496)."""

    def __init__(self, version: str = "1_1", num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        if version not in SQUEEZENET_TAPS:
            raise ValueError(f"unknown SqueezeNet version {version!r}; choose '1_0' or '1_1'")
        self.version = version
        self.num_classes = num_classes
        self.features = _features_1_0() if version == "1_0" else _features_1_1()
        self.lpips_taps = SQUEEZENET_TAPS[version]
        self.min_input_size = SQUEEZENET_MIN_FEATURES[version]
        self.min_classifier_input_size = SQUEEZENET_MIN_CLASSIFIER[version]
        # No fully connected layers: a 1x1 convolution to the classes, then global average pooling.
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, self.min_classifier_input_size, "forward")
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)

"""AlexNet, in torchvision's layout, in two variants.

* ``AlexNet`` is torchvision's model: the "one weird trick" variant
  (Krizhevsky 2014) with 64/192/384/256/256 filters, no local response
  normalisation and no grouped convolutions. Its ImageNet weights are the ones
  the ``lpips`` package uses.
* ``AlexNet2012`` is the network of Krizhevsky, Sutskever & Hinton (2012):
  96/256/384/384/256 filters, conv2/4/5 split into two groups (the paper ran
  the two halves on two GPUs), local response normalisation after conv1 and
  conv2, and overlapping 3x3/stride-2 max pooling.

Both keep the ``features`` / ``avgpool`` / ``classifier`` layout, so the
``state_dict`` keys of ``AlexNet`` are torchvision's keys.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .taps import FeatureTapsMixin

# Taps after ReLU 1..5, the layers the lpips package reads (features[1,4,7,9,11]).
ALEXNET_TAPS = OrderedDict(relu1=1, relu2=4, relu3=7, relu4=9, relu5=11)
ALEXNET_2012_TAPS = OrderedDict(relu1=1, relu2=5, relu3=9, relu4=11, relu5=13)

# conv1 (11x11, stride 4, pad 2) then two 3x3/2 pools before relu5 need >= 31 px;
# the classifier's third pool needs >= 63 px.
ALEXNET_MIN_FEATURES = 31
ALEXNET_MIN_CLASSIFIER = 63


def _classifier(num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


class _AlexNetBase(FeatureTapsMixin, nn.Module):
    min_input_size = ALEXNET_MIN_FEATURES
    min_classifier_input_size = ALEXNET_MIN_CLASSIFIER

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, self.min_classifier_input_size, "forward")
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class AlexNet(_AlexNetBase):
    """torchvision's AlexNet (61,100,840 parameters with 1000 classes)."""

    lpips_taps = ALEXNET_TAPS

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0 conv1
            nn.ReLU(inplace=True),  # 1 relu1
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3 conv2
            nn.ReLU(inplace=True),  # 4 relu2
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6 conv3
            nn.ReLU(inplace=True),  # 7 relu3
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8 conv4
            nn.ReLU(inplace=True),  # 9 relu4
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10 conv5
            nn.ReLU(inplace=True),  # 11 relu5
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(num_classes, dropout)
        # torchvision keeps PyTorch's default initialisation for AlexNet.


# The paper normalises with b = a / (k + alpha * sum(a^2))^beta; PyTorch's
# LocalResponseNorm divides alpha by the window size n, so the paper's
# alpha = 1e-4 is PyTorch's alpha = n * 1e-4.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


def local_response_norm() -> nn.LocalResponseNorm:
    """The 2012 paper's LRN (n=5, alpha=1e-4, beta=0.75, k=2) in PyTorch's convention."""
    return nn.LocalResponseNorm(size=LRN_SIZE, alpha=LRN_SIZE * LRN_ALPHA, beta=LRN_BETA, k=LRN_K)


class AlexNet2012(_AlexNetBase):
    """The original AlexNet of Krizhevsky et al. (2012), 60,965,224 parameters."""

    lpips_taps = ALEXNET_2012_TAPS

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4, padding=2),  # 0 conv1
            nn.ReLU(inplace=True),  # 1 relu1
            local_response_norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # overlapping: window 3 > stride 2
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),  # 4 conv2, two GPUs
            nn.ReLU(inplace=True),  # 5 relu2
            local_response_norm(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),  # 8 conv3 sees both halves
            nn.ReLU(inplace=True),  # 9 relu3
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),  # 10 conv4
            nn.ReLU(inplace=True),  # 11 relu4
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),  # 12 conv5
            nn.ReLU(inplace=True),  # 13 relu5
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(num_classes, dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        # The paper: weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5 and the
        # hidden fully connected layers (to give ReLUs positive inputs early), else 0.
        ones = {4, 10, 12}
        for i, m in enumerate(self.features):
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if i in ones else 0.0)
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for j, m in enumerate(linears):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.constant_(m.bias, 1.0 if j < len(linears) - 1 else 0.0)

"""Preprocessing shared by every dataset: sizes per model, ImageNet normalisation, augmentation.

Datasets hand out uint8 images; the Trainer normalises them on the device
(``normalize``). Moving uint8 to a GPU is 4x less traffic than float32, and
the arithmetic is free there.
"""

from __future__ import annotations

import torch

from ..models import get_spec

# The statistics torchvision's ImageNet models were trained with (and LPIPS's backbones expect).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def input_size_for(model_name: str, image_size: int) -> int:
    """The training resolution for a model: the profile's size, raised to the model's minimum.

    AlexNet's classifier needs at least 63 px (an 11x11/4 convolution and three
    3x3/2 poolings); SqueezeNet and VGG accept smaller inputs.
    """
    with torch.device("meta"):  # build without allocating or initialising real weights
        model = get_spec(model_name).builder(num_classes=1, dropout=0.0)
    return max(image_size, getattr(model, "min_classifier_input_size", 1))


def normalize(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (or [0, 1] float) N x 3 x H x W -> float32 standardised with ImageNet mean and std."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def denormalize(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """The inverse of ``normalize``: back to [0, 1] floats (for showing images)."""
    m = torch.tensor(mean, device=images.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device).view(1, 3, 1, 1)
    return (images.float() * s + m).clamp(0, 1)


def train_transform(image_size: int):
    """ImageNet-style augmentation: random resized crop and mirror, uint8 tensor out."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.PILToTensor(),
        v2.RandomResizedCrop(image_size, scale=(0.25, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
    ])


def eval_transform(image_size: int):
    """Resize the short side to 8/7 of the size, then centre-crop (the 256 -> 224 convention)."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.PILToTensor(),
        v2.Resize(int(round(image_size * 256 / 224)), antialias=True),
        v2.CenterCrop(image_size),
    ])

"""Images and datasets: shipped photos, the offline task, and real datasets when present."""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from .example_triplet import PUBLISHED_ALEX_SPATIAL_DISTANCES, example_path, load_example_triplet
from .folders import DatasetNotAvailableError, cifar10, image_folder, imagenette, read_rgb
from .offline import OFFLINE_CLASSES, OfflineImages
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, denormalize, input_size_for, normalize
from .samples import SAMPLE_IMAGES, load_sample, sample_names, to_image, to_tensor

DATASETS = ("offline", "cifar10", "imagenette", "folder")


def build_datasets(
    name: str = "offline",
    image_size: int = 64,
    images_per_class: int = 240,
    val_images_per_class: int = 60,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    download: bool | None = None,
) -> tuple[Dataset, Dataset]:
    """(train, validation) datasets by name; both have ``classes`` and yield (uint8 image, label).

    ``name``: ``offline`` (no files needed), ``cifar10``, ``imagenette``, or
    ``folder`` (an ImageNet-layout folder at ``root``; a path works as a name too).
    ``root`` defaults to ``lpips_edu.paths.data_dir()``.
    """
    from ..paths import data_dir

    if name == "offline":
        return (
            OfflineImages("train", images_per_class, image_size, seed),
            OfflineImages("val", val_images_per_class, image_size, seed),
        )
    if name not in DATASETS:  # a path given as the dataset name
        name, root = "folder", name
    root = Path(root) if root is not None else data_dir()
    if name == "folder":
        train = image_folder(root, "train", image_size)
        return train, image_folder(root, "val", image_size, classes=train.classes)
    if name == "cifar10":
        return cifar10(root, "train", image_size, download), cifar10(root, "val", image_size, download)
    return imagenette(root, "train", image_size, download), imagenette(root, "val", image_size, download)


__all__ = [
    "SAMPLE_IMAGES", "load_sample", "sample_names", "to_image", "to_tensor",
    "OfflineImages", "OFFLINE_CLASSES", "build_datasets", "DATASETS", "DatasetNotAvailableError",
    "image_folder", "cifar10", "imagenette", "read_rgb",
    "IMAGENET_MEAN", "IMAGENET_STD", "normalize", "denormalize", "input_size_for",
    "PUBLISHED_ALEX_SPATIAL_DISTANCES", "example_path", "load_example_triplet",
]

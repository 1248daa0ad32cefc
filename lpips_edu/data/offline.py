"""An image-classification task that needs no download.

The question a network must answer: *which source made this 64 x 64 patch?*
Ten classes are shipped photographs (a patch of the astronaut, of the cat, of
the Hubble deep field ...); four are procedural textures (dead leaves,
1/f noise, gratings, Julia sets). To answer, a network has to pick up colour,
texture and local shape: the same cues ImageNet rewards, at a size a laptop
can train in minutes.

Training and validation never share a pixel: training patches come from the
first three quarters of each photograph (along its longer side), validation
patches from the last quarter; procedural training and validation images use
different seeds. Training patches are drawn afresh every epoch
(``set_epoch``): random position, scale and mirror act as data augmentation,
so the network cannot memorise a fixed set of crops.

Every image is a pure function of ``(seed, split, epoch, index)``: runs are
reproducible, and DataLoader workers (any number) produce the same batches.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .procedural import GENERATORS
from .samples import SAMPLE_IMAGES

VALIDATION_FRACTION = 0.25  # the held-out band: the last quarter of each photo's longer side
PATCH_SCALE = (0.15, 0.30)  # patch side as a fraction of the photo's shorter side


def _extra_photo(name: str):
    def load() -> np.ndarray:
        from skimage import data

        return data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()

    return load


PHOTOS = {
    **SAMPLE_IMAGES,
    "hubble_deep_field": _extra_photo("hubble_deep_field"),
    "motorcycle": _extra_photo("motorcycle"),
}
OFFLINE_CLASSES: list[str] = list(PHOTOS) + list(GENERATORS)


@lru_cache(maxsize=None)
def _photo(name: str) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(PHOTOS[name]()[..., :3]))


def _band(width: int, height: int, split: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the part of a photo a split may use."""
    if width >= height:
        cut = int(round(width * (1 - VALIDATION_FRACTION)))
        return (0, 0, cut, height) if split == "train" else (cut, 0, width, height)
    cut = int(round(height * (1 - VALIDATION_FRACTION)))
    return (0, 0, width, cut) if split == "train" else (0, cut, width, height)


def patch_box(photo_size: tuple[int, int], rng: np.random.Generator, split: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a random square inside the band of a photo reserved for ``split``."""
    width, height = photo_size
    left, top, right, bottom = _band(width, height, split)
    v_left, v_top, v_right, v_bottom = _band(width, height, "val")
    # Both splits draw from the same range of sides, capped by the (narrower) validation band,
    # so patch scale tells the network nothing about the split.
    cap = min(v_right - v_left, v_bottom - v_top)
    lo, hi = (min(int(f * min(width, height)), cap) for f in PATCH_SCALE)
    side = int(rng.integers(lo, hi + 1))
    x = int(rng.integers(left, right - side + 1))
    y = int(rng.integers(top, bottom - side + 1))
    return x, y, x + side, y + side


def photo_patch(name: str, rng: np.random.Generator, size: int, split: str, flip: bool) -> np.ndarray:
    """A random square patch of a shipped photo, from the band reserved for ``split``, resized to ``size``."""
    photo = _photo(name)
    patch = photo.crop(patch_box(photo.size, rng, split)).resize((size, size), Image.Resampling.BILINEAR)
    if flip and rng.random() < 0.5:
        patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(patch)


class OfflineImages(Dataset):
    """Patches of shipped photos plus procedural textures, labelled by their source.

    Items are ``(image, label)`` with ``image`` a 3 x size x size uint8 tensor
    (normalisation happens on the device, see ``lpips_edu.data.preprocess``).
    """

    def __init__(
        self,
        split: str = "train",
        images_per_class: int = 240,
        image_size: int = 64,
        seed: int = 0,
        classes: list[str] | None = None,
        fresh_each_epoch: bool | None = None,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {split!r}")
        self.classes = list(classes or OFFLINE_CLASSES)
        unknown = [c for c in self.classes if c not in PHOTOS and c not in GENERATORS]
        if unknown:
            raise ValueError(f"unknown offline classes {unknown}; choose from {OFFLINE_CLASSES}")
        if images_per_class < 1:
            raise ValueError(f"images_per_class must be >= 1, got {images_per_class}")
        self.split = split
        self.images_per_class = images_per_class
        self.image_size = image_size
        self.seed = seed
        # Validation must be the same images every epoch; training gets new crops by default.
        self.fresh_each_epoch = (split == "train") if fresh_each_epoch is None else fresh_each_epoch
        self.epoch = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def set_epoch(self, epoch: int) -> None:
        """Draw a new set of training patches (called by the Trainer before every epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_classes * self.images_per_class

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        label = index // self.images_per_class
        epoch = self.epoch if self.fresh_each_epoch else 0
        split_id = 0 if self.split == "train" else 1
        rng = np.random.default_rng([self.seed, split_id, epoch, index])
        name = self.classes[label]
        if name in PHOTOS:
            image = photo_patch(name, rng, self.image_size, self.split, flip=self.split == "train")
        else:
            image = GENERATORS[name](rng, self.image_size)
        return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous(), label

"""Real datasets, used only when they are on disk or the reader asked for a download.

* ``image_folder``: the ``root/train/<class>/*.jpg`` + ``root/val/<class>/*.jpg``
  layout of ImageNet (after the usual ``valprep.sh``), Imagenette, and Tiny
  ImageNet (whose ``val/images`` + ``val_annotations.txt`` is understood too).
* ``cifar10`` and ``imagenette``: torchvision's datasets; ``download=True``
  fetches them, and offline that fails within seconds with a message that says
  what to download and where to put it.

Every loader returns uint8 3 x H x W tensors, like ``OfflineImages``.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from ..models.weights import _reachable, downloads_allowed
from .image_files import read_rgb
from .preprocess import eval_transform, train_transform

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp", ".tif", ".tiff")


class DatasetNotAvailableError(FileNotFoundError):
    """A real dataset is not on disk and was not (or could not be) downloaded."""


class LabelledFiles(Dataset):
    """A list of (image file, label) pairs with a transform; ``classes`` names the labels."""

    def __init__(self, samples: list[tuple[str, int]], classes: list[str], transform) -> None:
        self.samples, self.classes, self.transform = samples, classes, transform

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        return self.transform(read_rgb(path)), label


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _class_folders(split_dir: Path) -> list[tuple[str, list[Path]]]:
    if not split_dir.is_dir():
        raise DatasetNotAvailableError(
            f"{split_dir} does not exist. Expected the layout root/train/<class>/<images> and "
            "root/val/<class>/<images> (ImageNet, Imagenette, Tiny ImageNet)."
        )
    classes = sorted(d for d in split_dir.iterdir() if d.is_dir())
    found = [(d.name, _images_under(d)) for d in classes]
    found = [(name, files) for name, files in found if files]
    if not found:
        raise DatasetNotAvailableError(
            f"{split_dir} holds no images in class sub-folders (looked for "
            f"{', '.join(IMAGE_EXTENSIONS)} files in {split_dir}/<class>/)."
        )
    return found


def image_folder(
    root: str | os.PathLike, split: str, image_size: int, classes: list[str] | None = None
) -> LabelledFiles:
    """A split of an ImageNet-layout folder, with training augmentation for ``split="train"``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotAvailableError(
            f"dataset folder {root} does not exist; put the dataset there (root/train/<class>/..., "
            "root/val/<class>/...) or pass the right path"
        )
    transform = train_transform(image_size) if split == "train" else eval_transform(image_size)
    split_dir = root / split
    annotations = split_dir / "val_annotations.txt"
    if annotations.is_file():  # Tiny ImageNet: val/images/*.JPEG and a file -> class table
        classes = classes or [name for name, _ in _class_folders(root / "train")]
        index = {c: i for i, c in enumerate(classes)}
        samples = []
        for line in annotations.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1] in index:
                samples.append((str(split_dir / "images" / parts[0]), index[parts[1]]))
        if not samples:
            raise DatasetNotAvailableError(f"{annotations} lists no images of the training classes")
        return LabelledFiles(samples, classes, transform)
    found = _class_folders(split_dir)
    names = [name for name, _ in found]
    if classes is not None and names != classes:
        raise ValueError(
            f"{split_dir} has classes {names[:5]}... ({len(names)}) but training has "
            f"{classes[:5]}... ({len(classes)}); both splits need the same class folders"
        )
    samples = [(str(f), label) for label, (_, files) in enumerate(found) for f in files]
    return LabelledFiles(samples, names, transform)


def _fail_fast_download(what: str, url: str, root: Path, download: bool | None, layout: str) -> None:
    """Raise at once when the data is missing and may not, or cannot, be downloaded."""
    if not downloads_allowed(download):
        raise DatasetNotAvailableError(
            f"{what} is not in {root}. Put it there ({layout}), or allow the download with "
            "download=True (CLI: --download) or LPIPS_EDU_ALLOW_DOWNLOAD=1."
        )
    if not _reachable(url, timeout=5.0):
        raise DatasetNotAvailableError(
            f"cannot download {what}: {url} is unreachable (offline?). Download it elsewhere "
            f"and put it in {root} ({layout})."
        )


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"


class _TorchvisionDataset(Dataset):
    """A torchvision dataset with our transform and a ``classes`` list."""

    def __init__(self, dataset, transform) -> None:
        self.dataset, self.transform = dataset, transform
        self.classes = list(dataset.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, label = self.dataset[index]
        return self.transform(image.convert("RGB")), label


def cifar10(root: str | os.PathLike, split: str, image_size: int, download: bool | None = None) -> Dataset:
    """CIFAR-10 (32 x 32 photos, 10 classes), resized to ``image_size``."""
    import torchvision

    root = Path(root)
    if not (root / "cifar-10-batches-py").is_dir():
        _fail_fast_download("CIFAR-10", CIFAR10_URL, root, download, "the folder cifar-10-batches-py")
    ds = torchvision.datasets.CIFAR10(str(root), train=split == "train", download=bool(downloads_allowed(download)))
    return _TorchvisionDataset(ds, train_transform(image_size) if split == "train" else eval_transform(image_size))


def imagenette(root: str | os.PathLike, split: str, image_size: int, download: bool | None = None) -> Dataset:
    """Imagenette (10 easy ImageNet classes), the 160 px version."""
    root = Path(root)
    folder = root / "imagenette2-160"
    if not folder.is_dir():
        _fail_fast_download(
            "Imagenette", IMAGENETTE_URL, root, download, "the unpacked folder imagenette2-160 with train/ and val/"
        )
        import torchvision

        torchvision.datasets.Imagenette(str(root), split="train", size="160px", download=True)
    return image_folder(folder, split, image_size)

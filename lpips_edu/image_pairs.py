"""LPIPS over many image pairs of different sizes: batched by size, returned in input order.

The backbone is fastest on batches, but a batch needs equal sizes. So pairs
are grouped by image size, each group runs in batches, and the distances are
put back in the order the pairs came in.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .data.samples import to_tensor
from .input_checks import check_images, check_same_size
from .progress import progress_bar

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
ImageLike = str | os.PathLike | torch.Tensor


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as 1 x 3 x H x W float32 in [-1, 1] (LPIPS's convention); grayscale/RGBA become RGB."""
    from PIL import Image

    with Image.open(path) as image:
        array = np.array(image.convert("RGB"))
    return to_tensor(array, value_range=(-1.0, 1.0))


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files in a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pairs_from_dirs(dir0: str | os.PathLike, dir1: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Pairs of files with the same name in two folders (every file of ``dir0`` must exist in ``dir1``)."""
    files0 = image_files(dir0)
    if not files0:
        raise ValueError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {dir0}")
    missing = [p.name for p in files0 if not (Path(dir1) / p.name).is_file()]
    if missing:
        raise ValueError(f"{len(missing)} file(s) of {dir0} have no counterpart in {dir1}: {missing[:5]}")
    return [(p, Path(dir1) / p.name) for p in files0]


def all_pairs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Every unordered pair of distinct images in a folder (i < j, by name)."""
    files = image_files(folder)
    if len(files) < 2:
        raise ValueError(f"{folder} needs at least two images to compare, found {len(files)}")
    return list(itertools.combinations(files, 2))


def _as_image(item: ImageLike) -> torch.Tensor:
    if isinstance(item, torch.Tensor):
        return item if item.dim() == 4 else item.unsqueeze(0)
    return load_image(item)


def pair_distances(
    metric,
    pairs: Sequence[tuple[ImageLike, ImageLike]],
    batch_size: int = 32,
    normalize: bool = False,
    progress: bool | None = None,
) -> torch.Tensor:
    """LPIPS of every pair (paths, or 3 x H x W / 1 x 3 x H x W tensors), shape (len(pairs),), in input order.

    Tensors follow ``normalize`` ([-1, 1], or [0, 1] with normalize=True); files
    are read into [-1, 1]. Pairs must be equal in size within a pair only.
    ``progress`` shows a bar (default: for more than 64 pairs).
    """
    images = [(_as_image(a), _as_image(b)) for a, b in pairs]
    norm_of = [normalize if isinstance(a, torch.Tensor) else False for a, _ in pairs]
    min_size = int(getattr(metric, "min_input_size", 1))
    backbone = type(getattr(metric, "net", metric)).__name__
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, ((a, b), norm, (name0, name1)) in enumerate(zip(images, norm_of, pairs)):
        # Checked here, per pair, so that an error names the file instead of a batch position.
        label0, label1 = (f"image {k} of pair {i}" if isinstance(n, torch.Tensor) else str(n)
                          for k, n in enumerate((name0, name1)))
        check_images(a, label0, norm, min_size, backbone)
        check_images(b, label1, norm, min_size, backbone)
        files = "" if isinstance(name0, torch.Tensor) else f" ({name0}, {name1})"
        check_same_size(a, b, f"the images of pair {i}{files}")
        groups[(tuple(a.shape[1:]), norm)].append(i)
    out = torch.empty(len(pairs))
    device = next(metric.parameters()).device
    show = len(pairs) > 64 if progress is None else progress
    with progress_bar(total=len(pairs), desc="LPIPS pairs", unit="pair", disable=not show) as bar:
        for (_, norm), indices in groups.items():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                in0 = torch.cat([images[i][0] for i in chunk]).to(device)
                in1 = torch.cat([images[i][1] for i in chunk]).to(device)
                out[chunk] = metric(in0, in1, normalize=norm).detach().float().flatten().cpu()
                bar.update(len(chunk))
    return out

"""Natural photographs that ship inside installed packages (no download).

scikit-image, scikit-learn and matplotlib each ship a few photographs for
their own examples. Together they give the book real images to look at and
to distort, with nothing fetched from the network.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _matplotlib(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib.cbook as cbook
        from PIL import Image

        with cbook.get_sample_data(name) as f:
            return np.asarray(Image.open(f).convert("RGB"))

    return load


SAMPLE_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
}


def sample_names() -> list[str]:
    """Names accepted by ``load_sample``."""
    return list(SAMPLE_IMAGES)


def load_sample(name: str, size: int | None = None) -> np.ndarray:
    """A shipped photograph as an H x W x 3 uint8 array, optionally centre-cropped and resized to ``size``."""
    if name not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; available: {', '.join(SAMPLE_IMAGES)}")
    image = np.ascontiguousarray(SAMPLE_IMAGES[name]()[..., :3])
    if size is None:
        return image
    from PIL import Image

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.BICUBIC))


def to_tensor(image: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x H x W float32 in ``value_range`` ((-1, 1) is LPIPS's convention)."""
    lo, hi = value_range
    t = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div(255.0)
    return (t * (hi - lo) + lo).unsqueeze(0)


def to_image(tensor: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """The inverse of ``to_tensor`` for one image (1 x 3 x H x W or 3 x H x W) -> H x W x 3 uint8."""
    lo, hi = value_range
    t = tensor.detach().float().cpu()
    t = t[0] if t.dim() == 4 else t
    t = ((t - lo) / (hi - lo)).clamp(0, 1)
    return (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)

"""Reading image files for LPIPS: every format PIL reads, turned into RGB the same way, or a reason why not.

Real folders hold more than clean 8-bit RGB PNGs, and each kind is read as a
person viewing the file would see it:

* grayscale and palette images become RGB (the gray value in all three channels);
* RGBA and LA: the alpha channel is dropped, as the ``lpips`` package's
  loader (OpenCV) does; the colour values are compared;
* 16-bit PNGs keep their precision (value / 65535), instead of being clipped
  to 8 bits the way ``Image.convert("RGB")`` clips them to white;
* CMYK JPEGs are converted to RGB;
* a JPEG with an EXIF orientation is turned upright (OpenCV does this too).

A file that cannot be used raises ``BadImageError`` (a ``ValueError``) whose
message names the file and the reason: empty, not an image, corrupt or
truncated, floating-point pixels.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


class BadImageError(ValueError):
    """A file that cannot be compared; the message says which file and why."""


def _open(path: str | os.PathLike):
    """The decoded, upright PIL image of ``path``; every way of failing becomes a BadImageError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise BadImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty file (0 bytes)")
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise BadImageError(f"{path}: not an image file PIL can read") from None
    except OSError as exc:
        raise BadImageError(f"{path}: cannot be opened ({exc})") from None
    try:
        with image, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. PIL's note on palette transparency: the alpha is dropped anyway
            image.load()
            return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(f"{path}: corrupt or truncated {image.format or 'image'} file ({exc})") from None


def read_rgb(path: str | os.PathLike):
    """``path`` as an 8-bit RGB PIL image (16-bit files rounded to 8 bits), for torchvision transforms."""
    from PIL import Image

    image = _open(path)
    if image.mode in SIXTEEN_BIT_MODES:
        return Image.fromarray(np.round(_sixteen_bit_rgb(image, path) * 255).astype(np.uint8))
    _check_not_float(image, path)
    return image.convert("RGB")


def read_image(path: str | os.PathLike, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """``path`` as a 1 x 3 x H x W float32 tensor in ``value_range`` (LPIPS's [-1, 1] by default)."""
    image = _open(path)
    if image.mode in SIXTEEN_BIT_MODES:
        unit = _sixteen_bit_rgb(image, path)
    else:
        _check_not_float(image, path)
        unit = np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255)
    lo, hi = value_range
    # numpy does the arithmetic: it releases the GIL in decoding threads without starting torch's thread pool.
    pixels = unit.transpose(2, 0, 1) * np.float32(hi - lo) + np.float32(lo)
    return torch.from_numpy(np.ascontiguousarray(pixels)).unsqueeze(0)


def _sixteen_bit_rgb(image, path) -> np.ndarray:
    values = np.asarray(image).astype(np.float32)
    if values.max(initial=0) > 65535 or values.min(initial=0) < 0:
        raise BadImageError(f"{path}: {image.mode} pixels outside 0..65535; save it as an 8- or 16-bit image")
    return np.repeat((values / np.float32(65535))[:, :, None], 3, axis=2)


def _check_not_float(image, path) -> None:
    if image.mode == "F":
        raise BadImageError(f"{path}: floating-point pixels have no fixed range; save it as an 8- or 16-bit image")

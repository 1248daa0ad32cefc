"""What the networks and LPIPS accept as images, checked before any work, with errors that say the fix.

The models' ``forward``/``forward_features``, the metric, ``pair_distances``
and the command line all check images here, so a wrong input gets the same
message wherever it comes in: a grayscale tensor, a channels-last array, 0..255
values, an image smaller than the network's minimum, NaNs from a diverged loss,
two images of different sizes.
"""

from __future__ import annotations

import torch

RANGE_TOLERANCE = 1e-3  # images may overshoot their range by this much (resampling, rounding)


def check_images(x: object, name: str = "x", normalize: bool = False, min_size: int = 1,
                 network: str = "the backbone", check_range: bool = True, metric: str = "LPIPS") -> None:
    """Raise ``TypeError``/``ValueError`` unless ``x`` is a float N x 3 x H x W batch of images.

    ``normalize``: the images are in [0, 1] (else [-1, 1]); ``min_size``: the
    smallest side ``network`` (words for the message) accepts; ``check_range``
    reads the values (one pass over the data: off where the range is not the
    caller's to know, as in a model's ``forward``, or for speed); ``metric``
    names what needs the images in the messages ("LPIPS", "DISTS").
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} has dtype {x.dtype}; {metric} needs floating-point images. Convert with "
            f"x.float() / 255 and pass normalize=True (or x.float() / 127.5 - 1 for [-1, 1])"
        )
    if x.dim() != 4:
        raise ValueError(
            f"{name} must be a batch N x 3 x H x W, got shape {tuple(x.shape)}"
            + ("; add the batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "")
        )
    if x.shape[1] != 3:
        hint = {
            1: "for grayscale images repeat the channel: x.repeat(1, 3, 1, 1)",
            4: "for RGBA images drop the alpha channel: x[:, :3]",
        }.get(x.shape[1], "images must be N x 3 x H x W (channels first); for N x H x W x 3 use x.permute(0, 3, 1, 2)")
        raise ValueError(f"{name} has {x.shape[1]} channels, {metric} needs 3 (RGB); {hint}")
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(
            f"{name} is {h}x{w} pixels, too small for {network}: the minimum is "
            f"{min_size}x{min_size}; resize or pad the images"
        )
    if check_range and x.numel():
        check_value_range(x, name, normalize, metric)


def check_value_range(x: torch.Tensor, name: str, normalize: bool, metric: str = "LPIPS") -> None:
    """Finite values within [-1, 1] (or [0, 1] with ``normalize``), give or take ``RANGE_TOLERANCE``."""
    check_value_ranges({name: x}, normalize, metric)


def check_value_ranges(images: dict[str, torch.Tensor], normalize: bool, metric: str = "LPIPS") -> None:
    """``check_value_range`` for several tensors, with one transfer from their device for all of them.

    On a GPU every number read back waits for the queued work: one ``aminmax``
    pass and one ``isfinite`` per tensor stay on the device (NaN and infinity
    reach the minimum or the maximum), and only a few numbers come back, once.
    """
    images = {name: x for name, x in images.items() if x.numel()}
    if not images:
        return
    device = next(iter(images.values())).device
    stats = []
    for x in images.values():
        lo, hi = torch.aminmax(x.detach())
        pair = torch.stack([lo, hi]).float()
        stats.append(torch.cat([pair, torch.isfinite(pair).all().float().reshape(1)]).to(device))
    values = torch.stack(stats).tolist()  # the one transfer
    low, high = (0.0, 1.0) if normalize else (-1.0, 1.0)
    for name, (lo, hi, finite) in zip(images, values):
        if not finite:
            raise ValueError(f"{name} contains NaN or infinite values; check the images (and the loss upstream)")
        if lo < low - RANGE_TOLERANCE or hi > high + RANGE_TOLERANCE:
            hint = (f"with normalize=True {metric} expects images in [0, 1]" if normalize
                    else f"{metric} expects images in [-1, 1]; for [0, 1] images pass normalize=True")
            raise ValueError(
                f"{name} has values in [{lo:.4g}, {hi:.4g}]; {hint}"
                + ("" if hi <= 255 + RANGE_TOLERANCE and hi <= high + 1 else " (0..255 images: divide by 255 first)")
                + "; clamp slightly out-of-range images with x.clamp(...)"
            )


def check_same_size(in0: torch.Tensor, in1: torch.Tensor, names: str = "in0 and in1",
                    metric: str = "LPIPS") -> None:
    """Two batches of equal image size: LPIPS (and DISTS's covariances) compare images position by position."""
    if in0.shape[1:] != in1.shape[1:]:
        raise ValueError(
            f"{names} have different sizes {tuple(in0.shape[1:])} and {tuple(in1.shape[1:])}; {metric} compares "
            "images position by position: resize one of them to the other's size"
        )


def check_batches(n0: int, n1: int) -> None:
    """Equal batch sizes, or one image to compare against every image of the other batch."""
    if n0 != n1 and n0 != 1 and n1 != 1:
        raise ValueError(
            f"batch sizes {n0} and {n1} do not match; pass equal batches, or one image (batch 1) "
            "to compare against every image of the other batch"
        )

"""An E-LPIPS-style metric: LPIPS averaged over random transformations of both images.

Kettunen, Härkönen and Lehtinen (2019) made LPIPS hard to attack by measuring
it on an ensemble of random transformations of the input, the same one applied
to both images: an adversarial perturbation has to survive every shift, flip
and colour change at once. The transformations here follow the defaults of
their code: downscaling by an integer factor s (box filter, random sub-pixel
offset, probability proportional to 1/s^2), a translation by 0..``max_shift``
pixels (reflect padding), horizontal/vertical flips, a transpose, a colour
channel permutation and per-channel colour scaling by 0.2 + 0.8 u, u uniform
in [0, 1].

What differs from the published E-LPIPS, and must be said wherever this is
used: the heads are the official LPIPS ones (E-LPIPS retrained its heads, and
those weights are not available offline), the backbone keeps its max pools
(E-LPIPS-VGG uses average pooling), there is no dropout in the network, and
downscaling stops where the image would become smaller than the backbone's
minimum input. Call it "E-LPIPS-style on the official heads", not E-LPIPS.

Reproducible: ``TransformEnsemble(metric, samples, seed)`` draws the same
transformations on every call unless a ``generator`` is passed (an attack
that sees fresh transformations at every step passes one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..input_checks import check_batches, check_same_size
from .metric import LPIPS

__all__ = ["Transform", "TransformEnsemble", "apply_transform", "downscale_factors", "random_transform"]

COLOUR_SCALE_MIN = 0.2  # E-LPIPS: colour factors 0.2 + 0.8 u


@dataclass(frozen=True)
class Transform:
    """One random transformation, applied identically to both images of a pair."""

    scale: int = 1  # box-filter downscaling factor
    scale_offset: tuple[int, int] = (0, 0)  # rows/columns dropped first, 0..scale-1
    shift: tuple[int, int] = (0, 0)  # translation down/right in pixels (after downscaling)
    flip_h: bool = False
    flip_v: bool = False
    transpose: bool = False
    channels: tuple[int, int, int] = (0, 1, 2)  # colour permutation
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel factors, after the permutation


def downscale_factors(size: int, min_size: int, max_scale: int = 8) -> list[int]:
    """Integer factors s <= ``max_scale`` that keep a ``size`` px image at least ``min_size`` px after any offset."""
    if size < min_size:
        raise ValueError(f"a {size} px image is below the backbone's minimum of {min_size} px")
    return [s for s in range(1, max_scale + 1) if (size - (s - 1)) // s >= min_size]


def random_transform(generator: torch.Generator, size: tuple[int, int], min_size: int, max_shift: int = 7,
                     max_scale: int = 8) -> Transform:
    """Draw one ``Transform`` for H x W images from ``generator`` (scale probabilities proportional to 1/s^2)."""
    factors = downscale_factors(min(size), min_size, max_scale)
    weights = torch.tensor([1.0 / s**2 for s in factors])
    scale = factors[int(torch.multinomial(weights, 1, generator=generator))]
    offset = tuple(int(v) for v in torch.randint(0, scale, (2,), generator=generator))
    shift = tuple(int(v) for v in torch.randint(0, max_shift + 1, (2,), generator=generator))
    flips = torch.rand(3, generator=generator) < 0.5
    channels = tuple(int(c) for c in torch.randperm(3, generator=generator))
    colour = tuple(float(COLOUR_SCALE_MIN + (1 - COLOUR_SCALE_MIN) * u) for u in torch.rand(3, generator=generator))
    return Transform(scale, offset, shift, bool(flips[0]), bool(flips[1]), bool(flips[2]), channels, colour)


def apply_transform(t: Transform, images: torch.Tensor) -> torch.Tensor:
    """``t`` applied to N x 3 x H x W images in [0, 1]; the result stays in [0, 1]."""
    x = images
    if t.scale > 1:
        top, left = t.scale_offset
        x = F.avg_pool2d(x[..., top:, left:], kernel_size=t.scale, stride=t.scale)
    dy, dx = t.shift
    if dy or dx:  # move the content down/right; the uncovered border is a mirror image of the edge
        h, w = x.shape[-2:]
        if dy >= h or dx >= w:
            raise ValueError(f"a shift of {t.shift} px does not fit a {h}x{w} image")
        x = F.pad(x, (dx, 0, dy, 0), mode="reflect")[..., :h, :w]
    if t.flip_h:
        x = x.flip(-1)
    if t.flip_v:
        x = x.flip(-2)
    if t.transpose:
        x = x.transpose(-2, -1)
    x = x[:, list(t.channels)]
    return x * torch.tensor(t.colour, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)


class TransformEnsemble(nn.Module):
    """LPIPS averaged over ``samples`` random transformations: called like ``LPIPS`` (N x 1 x 1 x 1).

    ``metric``: an ``lpips_edu.LPIPS`` (its backbone and heads are used as
    they are); ``seed``: the transformations drawn on every call unless the
    call passes its own ``generator``. Images in [-1, 1], or [0, 1] with
    ``normalize=True``.
    """

    def __init__(self, metric: LPIPS, samples: int = 8, seed: int = 0, max_shift: int = 7, max_scale: int = 8) -> None:
        super().__init__()
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if max_shift < 0 or max_scale < 1:
            raise ValueError(f"need max_shift >= 0 and max_scale >= 1; got {max_shift}, {max_scale}")
        if getattr(metric, "spatial", False):
            raise ValueError("the ensemble averages scalar distances; build the metric with spatial=False")
        self.metric, self.samples, self.seed = metric, samples, seed
        self.max_shift, self.max_scale = max_shift, max_scale

    def transforms(self, size: tuple[int, int], generator: torch.Generator | None = None) -> list[Transform]:
        """The transformations one call uses for H x W images (the seeded ones without ``generator``)."""
        g = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        min_size = self.metric.min_input_size
        return [random_transform(g, size, min_size, self.max_shift, self.max_scale) for _ in range(self.samples)]

    def forward(self, in0: torch.Tensor, in1: torch.Tensor, normalize: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The mean of ``metric(t(in0), t(in1))`` over the ensemble's transformations t."""
        self.metric._check_all({"in0": in0, "in1": in1}, normalize)
        check_same_size(in0, in1)
        check_batches(in0.shape[0], in1.shape[0])
        if not normalize:
            in0, in1 = (in0 + 1) / 2, (in1 + 1) / 2
        total = None
        for t in self.transforms(tuple(in0.shape[-2:]), generator):
            d = self.metric(apply_transform(t, in0).clamp(0, 1), apply_transform(t, in1).clamp(0, 1), normalize=True)
            total = d if total is None else total + d
        return total / self.samples

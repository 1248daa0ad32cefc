"""Adversarial examples for a perceptual metric: flip its 2AFC decision with a small perturbation.

For a triplet (reference, two candidates) a metric decides which candidate is
closer. The attack (Ghildyal & Liu 2023, PGD of Madry et al. 2018) takes the
candidate the metric judged *closer* and pushes it away from the reference
until the metric judges it *farther* than the other one, changing no pixel by
more than ``eps`` (an L-infinity ball):

    x <- clamp_[0,1]( x0 + clamp_[-eps,eps]( x + alpha sign(grad_x d(ref, x)) - x0 ) )

repeated for at most ``steps`` steps; a candidate stops moving as soon as the
metric's decision has flipped, as in the authors' code. Images are in [0, 1]
here (the authors' code works in [-1, 1]: their eps = 0.03 is 0.015 here).

``pgd_flip`` is the attack, ``quantize_8bit`` what saving the image as an
8-bit PNG does to it, ``CachedReference`` the distance to fixed references
with their features computed once (half the work of calling LPIPS on both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from .metric import LPIPS, LPIPSFeatures

__all__ = ["AttackResult", "CachedReference", "closer_candidates", "pgd_flip", "quantize_8bit"]

# distance(x, index) -> d(ref[index], x), one number per image of x (N)
Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images rounded to the 256 levels an 8-bit PNG stores."""
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"quantize_8bit takes [0, 1] images, got values in [{images.min():.3g}, "
                         f"{images.max():.3g}]; map [-1, 1] images with (x + 1) / 2 first")
    return torch.round(images * 255) / 255


def closer_candidates(d0: torch.Tensor, d1: torch.Tensor, p0: torch.Tensor,
                      p1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The candidate the metric judged closer (``d0 <= d1``: p0), the other one's distance, and "p1 was closer"."""
    d0, d1 = d0.reshape(-1), d1.reshape(-1)
    p1_closer = d1 < d0
    closer = torch.where(p1_closer[:, None, None, None], p1, p0)
    return closer, torch.maximum(d0, d1), p1_closer


class CachedReference:
    """``d(ref[index], x)`` under an LPIPS metric, the references' features computed once; [0, 1] images."""

    def __init__(self, metric: LPIPS, ref: torch.Tensor) -> None:
        self.metric = metric
        with torch.no_grad():
            self.ref = metric.features(ref, normalize=True)

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ref = LPIPSFeatures([t[index] for t in self.ref.taps], self.ref.image_size)
        return self.metric.distance_from_features(ref, self.metric.features(x, normalize=True)).reshape(-1)


@dataclass
class AttackResult:
    """What ``pgd_flip`` did: the attacked images, which decisions flipped, after how many steps."""

    images: torch.Tensor  # N x 3 x H x W in [0, 1], within eps of the start
    flipped: torch.Tensor  # N, bool: d(ref, image) > d_farther at the end (before any rounding)
    steps_taken: torch.Tensor  # N, int: gradient steps each image received
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> the images after that many steps


def pgd_flip(distance: Distance, closer: torch.Tensor, d_farther: torch.Tensor, eps: float, alpha: float,
             steps: int, record: Iterable[int] = (), stop_at_flip: bool = True) -> AttackResult:
    """Push each ``closer`` candidate away from its reference until ``distance`` exceeds ``d_farther``.

    ``distance(x, index)`` is d(ref[index], x) for a subset ``index`` of the
    triplets; ``closer`` are N x 3 x H x W images in [0, 1]; ``eps`` bounds the
    change of every pixel, ``alpha`` is the step (both on the [0, 1] scale);
    ``record`` lists step counts whose images are kept (a flip rate against
    the number of steps from one run). ``stop_at_flip=False`` keeps every
    image moving for all ``steps`` (a larger margin, which survives rounding
    and a noisy distance better); ``flipped`` is then measured after the last step.
    """
    if eps < 0 or alpha <= 0 or steps < 0:
        raise ValueError(f"need eps >= 0, alpha > 0 and steps >= 0; got eps={eps}, alpha={alpha}, steps={steps}")
    if closer.dim() != 4 or d_farther.reshape(-1).shape[0] != closer.shape[0]:
        raise ValueError(f"closer must be N x 3 x H x W and d_farther hold N distances; got "
                         f"{tuple(closer.shape)} and {tuple(d_farther.shape)}")
    if closer.numel() and (closer.min() < 0 or closer.max() > 1):
        raise ValueError("pgd_flip works on [0, 1] images; map [-1, 1] images with (x + 1) / 2 first")
    record = sorted(set(record))
    if any(k < 0 or k > steps for k in record):
        raise ValueError(f"record lists step counts outside 0..{steps}: {record}")
    d_farther = d_farther.detach().reshape(-1)
    x = closer.detach().clone()
    done = torch.zeros(len(x), dtype=torch.bool)
    taken = torch.zeros(len(x), dtype=torch.long)
    snapshots = {0: x.clone()} if 0 in record else {}
    for step in range(steps + 1):
        todo = (~done).nonzero().flatten()
        if len(todo) == 0:
            break
        x_var = x[todo].requires_grad_(True)
        d = distance(x_var, todo).reshape(-1)
        flipped = d.detach() > d_farther[todo]
        if step == steps:
            done[todo] = flipped
            break
        if stop_at_flip:
            done[todo] = flipped  # flipped: this image stops here
        (grad,) = torch.autograd.grad(d.sum(), x_var)
        with torch.no_grad():
            moved = x_var + alpha * grad.sign()  # up the distance
            moved = closer[todo] + (moved - closer[todo]).clamp(-eps, eps)  # back into the ball
            keep = done[todo][:, None, None, None]
            x[todo] = torch.where(keep, x_var, moved.clamp(0, 1))  # a valid image
        taken[todo] += (~done[todo]).long()
        if step + 1 in record:
            snapshots[step + 1] = x.clone()
    for k in record:  # every image had stopped before step k
        snapshots.setdefault(k, x.clone())
    return AttackResult(x, done.clone(), taken, snapshots)

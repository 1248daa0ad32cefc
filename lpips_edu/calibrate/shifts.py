"""How often a shift of a pixel or two changes a metric's 2AFC decision: the rank-flip rate.

People do not notice a one-pixel shift. A metric whose features alias (a
stride-2 layer without a blur before it) can, and then its answer to "which
candidate is closer?" changes although nothing visible did. Ghildyal & Liu
(2022) measure this as the fraction of triplets whose ranking of (p0, p1)
flips when the images are shifted by N pixels.

Here every image is cropped to ``H - 2 margin`` pixels: the reference at the
centre, both candidates from a window moved ``shift`` pixels to the right, so
that their content moves ``shift`` pixels left against the reference's (real
image content enters at the edge; nothing is padded or wrapped). The
unshifted decision uses the same crop size, so that only the shift differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

__all__ = ["centre_crop", "two_afc_choices", "rank_flips", "rank_flip_rates"]

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # d(a, b) -> N distances


def centre_crop(images: torch.Tensor, margin: int, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """The ``H - 2 margin`` x ``W - 2 margin`` window of N x C x H x W images, moved by ``shift`` (down, right)."""
    dy, dx = shift
    if margin < 0 or abs(dy) > margin or abs(dx) > margin:
        raise ValueError(f"a shift of {shift} px needs a margin of at least {max(abs(dy), abs(dx))}; got {margin}")
    h, w = images.shape[-2:]
    if h - 2 * margin < 1 or w - 2 * margin < 1:
        raise ValueError(f"a margin of {margin} px leaves nothing of a {h}x{w} image")
    return images[..., margin + dy : h - margin + dy, margin + dx : w - margin + dx]


@torch.no_grad()
def two_afc_choices(distance: Distance, ref: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor,
                    batch_size: int = 64) -> torch.Tensor:
    """N booleans: the metric judged p1 closer to ref than p0 (``d1 < d0``; a tie counts as p0)."""
    if not (ref.shape == p0.shape == p1.shape):
        raise ValueError(f"ref, p0 and p1 must have the same shape; got {tuple(ref.shape)}, {tuple(p0.shape)}, "
                         f"{tuple(p1.shape)}")
    out = []
    for i in range(0, len(ref), batch_size):
        r, a, b = ref[i : i + batch_size], p0[i : i + batch_size], p1[i : i + batch_size]
        out.append(distance(r, b).reshape(-1) < distance(r, a).reshape(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def rank_flips(distance: Distance, ref: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor,
               shifts: Iterable[int] = (1, 2), margin: int | None = None,
               batch_size: int = 64) -> dict[int, torch.Tensor]:
    """For each shift, N booleans: the decision on the centre crops changes when the candidates' window moves right.

    All crops have the same size (``margin``, by default the largest shift),
    and the unshifted decision is computed once for all shifts.
    """
    shifts = list(shifts)
    if not shifts:
        raise ValueError("no shifts given")
    margin = max(abs(s) for s in shifts) if margin is None else margin
    r = centre_crop(ref, margin)
    still = two_afc_choices(distance, r, centre_crop(p0, margin), centre_crop(p1, margin), batch_size)
    out = {}
    for shift in shifts:
        moved = two_afc_choices(distance, r, centre_crop(p0, margin, (0, shift)), centre_crop(p1, margin, (0, shift)),
                                batch_size)
        out[shift] = still != moved
    return out


def rank_flip_rates(distance: Distance, ref: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor,
                    shifts: Iterable[int] = (1, 2), margin: int | None = None,
                    batch_size: int = 64) -> dict[int, float]:
    """For each shift, the fraction of triplets whose 2AFC decision a move of the candidates by it flips."""
    if len(ref) == 0:
        raise ValueError("no triplets to measure a rank-flip rate on")
    return {shift: float(flips.float().mean())
            for shift, flips in rank_flips(distance, ref, p0, p1, shifts, margin, batch_size).items()}

"""An offline 2AFC benchmark: triplets whose answer is known by construction.

BAPPS needs a download and people; the book needs something that runs
anywhere in seconds. Each triplet here takes a random crop of a shipped
photograph (``lpips_edu.data``) and applies the *same kind* of distortion
twice at two strengths, ``weak < strong`` (independent random draws). By
construction the weaker one is closer to the reference, so the "judge" is 1
when ``p1`` is the weak one and 0 otherwise: a unanimous, noise-free panel.

This is a proxy. It asks "does the metric grow with the amount of one
distortion?", which even L2 mostly gets right. BAPPS asks what it cannot:
people comparing *different* distortions (blur versus noise versus a CNN
artefact) at strengths where they disagree with each other, so that humans
agree with each other only about 74% of the time. A metric can ace this
benchmark and still fail there. Optional ``nuisance`` shifts make it harder
in the way that matters for pixel metrics: both candidates are moved by a
small, barely visible sub-pixel amount.

A second task, ``task="pixel-trap"``, asks what the graded one cannot: one
candidate is a barely visible geometric change of the reference (a shift or
a warp of one to two pixels), the other a visible distortion (noise, JPEG,
blur, quantisation) whose strength is set so that its pixel error is *smaller*
(50-90% of the geometric one's). The judge says the geometric change is closer,
which is what people report for such pairs (Zhang et al. 2018, fig. 1, and
chapter 4) but is *assumed* here, not measured: by construction L2 gets almost
every triplet wrong, and the question is how far a metric moves away from pixels.

Train and validation triplets come from different photographs (no shared
pixels); everything is a function of the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import load_sample, sample_names, to_tensor
from ..data.distortions import DISTORTIONS, distort
from .datasets import TwoAFCTensors

DEFAULT_VAL_IMAGES = ("coffee", "grace_hopper")
TASKS = ("graded", "pixel-trap")
TRAP_GEOMETRIC = ("shift", "warp")  # barely visible at these strengths, large pixel error
TRAP_VISIBLE = ("gaussian_noise", "jpeg", "blur", "quantize")


@dataclass(frozen=True)
class BenchmarkConfig:
    """How triplets are drawn; strengths are on each distortion's [0, 1] dial."""

    image_size: int = 64
    distortions: tuple[str, ...] = tuple(DISTORTIONS)
    weak_range: tuple[float, float] = (0.05, 0.55)  # strength of the weaker candidate
    gap_range: tuple[float, float] = (0.15, 0.45)  # how much stronger the other one is
    nuisance_shift: float = 0.0  # max strength of an extra random shift (4 px at 1) applied to both candidates
    min_crop_fraction: float = 0.15  # crop side as a fraction of the photo's short side, drawn in [min, max]
    max_crop_fraction: float = 0.5
    task: str = "graded"  # "graded": one distortion at two strengths; "pixel-trap": see the module docstring
    trap_geometric_range: tuple[float, float] = (0.25, 0.5)  # shift/warp strength (1 = 4 px)
    trap_pixel_ratio: tuple[float, float] = (0.5, 0.9)  # visible candidate's MSE / geometric one's


def random_crop(photo: torch.Tensor, size: int, config: BenchmarkConfig, g: torch.Generator) -> torch.Tensor:
    """A square crop of random size and place, resized (antialiased) to ``size`` pixels."""
    _, _, h, w = photo.shape
    short = min(h, w)
    lo = max(size, int(config.min_crop_fraction * short))
    hi = max(lo, int(config.max_crop_fraction * short))
    side = int(torch.randint(lo, hi + 1, (1,), generator=g))
    top = int(torch.randint(0, h - side + 1, (1,), generator=g))
    left = int(torch.randint(0, w - side + 1, (1,), generator=g))
    crop = photo[..., top : top + side, left : left + side]
    if side == size:
        return crop.clone()
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _uniform(lo: float, hi: float, g: torch.Generator) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def make_offline_2afc(
    n: int, images: Sequence[str], seed: int = 0, config: BenchmarkConfig = BenchmarkConfig()
) -> TwoAFCTensors:
    """``n`` triplets from the named shipped photographs; distortion kinds and photos are used in turn.

    ``meta`` records, per triplet, the photo, the distortion and both strengths.
    """
    if config.task not in TASKS:
        raise ValueError(f"unknown task {config.task!r}; choose one of {TASKS}")
    if config.task == "pixel-trap":
        return _make_pixel_trap(n, images, seed, config)
    unknown = [d for d in config.distortions if d not in DISTORTIONS]
    if unknown:
        raise ValueError(f"unknown distortion(s) {unknown}; available: {list(DISTORTIONS)}")
    if not images:
        raise ValueError("images is empty; pass names from lpips_edu.data.sample_names()")
    photos = {name: to_tensor(load_sample(name)) for name in images}
    g = torch.Generator().manual_seed(seed)
    refs, p0s, p1s, judges, meta = [], [], [], [], []
    for i in range(n):
        name = images[i % len(images)]
        kind = config.distortions[(i // len(images)) % len(config.distortions)]
        ref = random_crop(photos[name], config.image_size, config, g)
        weak = _uniform(*config.weak_range, g)
        strong = min(1.0, weak + _uniform(*config.gap_range, g))
        seeds = torch.randint(0, 2**31 - 1, (4,), generator=g).tolist()
        candidates = [distort(kind, ref, weak, seeds[0]), distort(kind, ref, strong, seeds[1])]
        if config.nuisance_shift > 0:
            candidates = [
                distort("shift", c, _uniform(0, config.nuisance_shift, g), s) for c, s in zip(candidates, seeds[2:])
            ]
        weak_is_p1 = bool(torch.rand((), generator=g) < 0.5)
        p0, p1 = (candidates[1], candidates[0]) if weak_is_p1 else (candidates[0], candidates[1])
        refs.append(ref)
        p0s.append(p0)
        p1s.append(p1)
        judges.append(1.0 if weak_is_p1 else 0.0)  # judge = "people chose p1": here, p1 is the weaker one
        meta.append({"image": name, "distortion": kind, "weak": weak, "strong": strong, "weak_is_p1": weak_is_p1})
    return TwoAFCTensors(torch.cat(refs), torch.cat(p0s), torch.cat(p1s), torch.tensor(judges), meta)


def pixel_mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).square().mean())


def strength_for_mse(kind: str, ref: torch.Tensor, target: float, seed: int) -> float:
    """The strength at which ``kind`` reaches pixel error ``target`` (bisection; clipped to [0.01, 1])."""
    lo, hi = 0.01, 1.0
    if pixel_mse(distort(kind, ref, hi, seed), ref) <= target:
        return hi
    for _ in range(14):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pixel_mse(distort(kind, ref, mid, seed), ref) < target else (lo, mid)
    return lo


def _make_pixel_trap(n: int, images: Sequence[str], seed: int, config: BenchmarkConfig) -> TwoAFCTensors:
    """Geometric change (judged closer) against a visible distortion with less pixel error."""
    photos = {name: to_tensor(load_sample(name)) for name in images}
    g = torch.Generator().manual_seed(seed)
    refs, p0s, p1s, judges, meta = [], [], [], [], []
    for i in range(n):
        name = images[i % len(images)]
        geometric = TRAP_GEOMETRIC[i % len(TRAP_GEOMETRIC)]
        visible = TRAP_VISIBLE[(i // len(TRAP_GEOMETRIC)) % len(TRAP_VISIBLE)]
        ref = random_crop(photos[name], config.image_size, config, g)
        seeds = torch.randint(0, 2**31 - 1, (2,), generator=g).tolist()
        geometric_strength = _uniform(*config.trap_geometric_range, g)
        moved = distort(geometric, ref, geometric_strength, seeds[0])
        ratio = _uniform(*config.trap_pixel_ratio, g)
        visible_strength = strength_for_mse(visible, ref, ratio * pixel_mse(moved, ref), seeds[1])
        spoiled = distort(visible, ref, visible_strength, seeds[1])
        moved_is_p1 = bool(torch.rand((), generator=g) < 0.5)
        p0, p1 = (spoiled, moved) if moved_is_p1 else (moved, spoiled)
        refs.append(ref)
        p0s.append(p0)
        p1s.append(p1)
        judges.append(1.0 if moved_is_p1 else 0.0)  # the geometric change is taken to look closer
        meta.append(
            {
                "image": name,
                "distortion": f"{geometric} vs {visible}",
                "geometric": geometric,
                "visible": visible,
                "geometric_strength": geometric_strength,
                "visible_strength": visible_strength,
                "pixel_ratio": pixel_mse(spoiled, ref) / pixel_mse(moved, ref),
                "geometric_is_p1": moved_is_p1,
            }
        )
    return TwoAFCTensors(torch.cat(refs), torch.cat(p0s), torch.cat(p1s), torch.tensor(judges), meta)


def offline_2afc_splits(
    n_train: int,
    n_val: int,
    seed: int = 0,
    config: BenchmarkConfig = BenchmarkConfig(),
    val_images: Sequence[str] = DEFAULT_VAL_IMAGES,
) -> tuple[TwoAFCTensors, TwoAFCTensors]:
    """Train and validation triplets from disjoint sets of photographs (different seeds too)."""
    missing = [v for v in val_images if v not in sample_names()]
    if missing:
        raise ValueError(f"unknown validation image(s) {missing}; available: {sample_names()}")
    train_images = [name for name in sample_names() if name not in val_images]
    return (
        make_offline_2afc(n_train, train_images, seed, config),
        make_offline_2afc(n_val, list(val_images), seed + 1, config),
    )

"""Checks for assignment 2: LPIPS from feature maps.

* A2.1 ``normalize_channels``: unit length along the channels, ``x / (||x|| + eps)``;
* A2.2 ``lpips_from_features``: normalise, difference, square, weight, average over
  positions, sum over layers; compared with ``lpips_edu.LPIPS`` on the same taps.
* A2.3 ``lpips_map``: the distance map of ``LPIPS(spatial=True)``, each tap's weighted
  squared difference upsampled (bilinear, ``align_corners=False``) to the image and summed;
* A2.4 ``plot_map``: a figure of a photo, its locally distorted copy and their map;
* A2.5 ``layer_contributions``: each tap's term of the distance (``retPerLayer=True``).

When a result is wrong, the check recomputes LPIPS with each classic mistake
(and every pair of them) and says which one reproduces the student's numbers:
"no channel normalisation" is something a student can fix, "wrong" is not.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from functools import lru_cache

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ..data import load_sample, to_tensor
from ..data.distortions import distort
from ..lpips.metric import LPIPS, NORM_EPS, normalize_tensor
from .attempt import NotReady, call_by_name, call_returning, exercise, grader, lookup, written_answer
from .report import Report

RTOL, ATOL = 1e-4, 1e-7

MISTAKES = {
    "no_normalisation": "no channel normalisation: scale every feature vector to unit length along the channels, "
    "x / (||x|| + eps), before taking the difference",
    "spatial_normalisation": "normalising over the positions (dims 2, 3) instead of along the channels (dim 1)",
    "eps_inside_sqrt": "eps inside the square root, x / sqrt(sum x^2 + eps): LPIPS adds eps to the norm, "
    "x / (||x|| + eps); the two differ when features are small",
    "no_eps": "no eps in the normalisation: a feature vector that is exactly zero (a dead ReLU position) "
    "gives 0/0 = NaN",
    "no_square": "the difference is not squared (|d| instead of d^2)",
    "weights_before_square": "the weights multiply the difference before squaring, (w d)^2; LPIPS weighs the squared "
    "difference, w d^2",
    "no_weights": "the weights are not applied (every channel weighs 1)",
    "channel_mean": "a mean over the channels instead of the weighted sum",
    "spatial_sum": "a sum over the positions instead of the spatial mean 1/(H W) sum_hw",
    "sqrt_distance": "a square root of the distance (an L2 norm); LPIPS keeps the squared distance",
    "layer_mean": "the layers averaged instead of summed",
}
# Mistakes of the distance map (A2.3), on top of the per-position ones above.
MAP_MISTAKES = {
    "nearest": "nearest-neighbour upsampling: LPIPS upsamples each tap's map bilinearly, "
    "F.interpolate(d, size=out_size, mode='bilinear', align_corners=False)",
    "align_corners": "align_corners=True: LPIPS (like the lpips package's nn.Upsample) uses align_corners=False, "
    "which treats pixels as squares whose centres sit half a pixel in from the border; align_corners=True "
    "stretches the map so that the corner samples land on the corner pixels, and the map's mean moves",
    "mean_before_upsampling": "each tap's map averaged over its positions before upsampling: every pixel holds "
    "the layer's mean, so the map is flat and shows nothing of where the images differ; upsample the "
    "H_l x W_l map itself",
    "features_upsampled": "the feature maps upsampled before the distance: LPIPS computes each tap's weighted "
    "squared difference at the tap's own resolution and upsamples that one-channel map",
}
# Mistakes of the per-tap contributions (A2.5).
CONTRIBUTION_MISTAKES = {
    "fractions": "each tap's share as a fraction of the pair's distance (the taps add up to 1): return the "
    "terms themselves, which add up to the distance, and divide by the total only to plot shares",
    "over_pairs": "normalised over the image pairs (each tap's row adds up to 1) instead of leaving the terms "
    "as they are: the terms of one pair (a column) add up to that pair's distance",
    "divided_by_taps": "each term divided by the number of taps: the distance is the sum of the terms, not their mean",
    "from_map": "the mean of each tap's upsampled map: bilinear upsampling keeps a map's mean only when the "
    "tap's size divides the image size, and AlexNet's taps at 64 px (15, 7 and 3 positions) do not; take "
    "the mean over the tap's own positions",
}
NORMALISATION = {"no_normalisation", "spatial_normalisation", "eps_inside_sqrt", "no_eps"}
SQUARING = {"no_square", "weights_before_square"}
CHANNELS = {"no_weights", "channel_mean", "weights_before_square"}
UPSAMPLING = {"nearest", "align_corners", "mean_before_upsampling"}
ALONE = {"features_upsampled"}  # tried on its own only: upsampling every channel of every tap is slow
SHARES = {"fractions", "over_pairs", "divided_by_taps", "layer_mean"}
# The per-position mistakes that also make sense in a map or a layer's term.
PER_POSITION = (
    "no_normalisation",
    "spatial_normalisation",
    "no_square",
    "weights_before_square",
    "no_weights",
    "channel_mean",
)


def _per_position(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, mistakes: frozenset[str], eps: float):
    """One tap's weighted squared difference per position (N x H x W, float64), with ``mistakes`` made."""

    def norm(x):
        if "no_normalisation" in mistakes:
            return x
        if "spatial_normalisation" in mistakes:
            return x / (x.pow(2).sum(dim=(2, 3), keepdim=True).sqrt() + eps)
        if "eps_inside_sqrt" in mistakes:
            return x / (x.pow(2).sum(dim=1, keepdim=True) + eps).sqrt()
        if "no_eps" in mistakes:
            return x / x.pow(2).sum(dim=1, keepdim=True).sqrt()
        return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)

    d = norm(a.double()) - norm(b.double())
    w = w.double().reshape(1, -1, 1, 1)
    if "weights_before_square" in mistakes:
        return (w * d).pow(2).sum(dim=1)
    d = d.abs() if "no_square" in mistakes else d.pow(2)
    if "no_weights" in mistakes:
        return d.sum(dim=1)
    if "channel_mean" in mistakes:
        return (w * d).mean(dim=1)
    return (w * d).sum(dim=1)


def layer_terms(
    f0: list[torch.Tensor],
    f1: list[torch.Tensor],
    weights: list[torch.Tensor],
    mistakes: frozenset[str] = frozenset(),
    eps: float = NORM_EPS,
    image_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Each tap's term of LPIPS (L x N), optionally with some of ``MISTAKES`` (and ``CONTRIBUTION_MISTAKES``)."""
    layers = []
    for a, b, w in zip(f0, f1, weights):
        d = _per_position(a, b, w, mistakes, eps)
        if "from_map" in mistakes:
            d = F.interpolate(d[:, None], size=image_size, mode="bilinear", align_corners=False)[:, 0]
        d = d.sum(dim=(1, 2)) if "spatial_sum" in mistakes else d.mean(dim=(1, 2))
        layers.append(d.sqrt() if "sqrt_distance" in mistakes else d)
    terms = torch.stack(layers)
    if "layer_mean" in mistakes or "divided_by_taps" in mistakes:
        terms = terms / len(layers)
    if "fractions" in mistakes:
        terms = terms / terms.sum(0, keepdim=True)
    if "over_pairs" in mistakes:
        terms = terms / terms.sum(1, keepdim=True)
    return terms


def lpips_variant(
    f0: list[torch.Tensor],
    f1: list[torch.Tensor],
    weights: list[torch.Tensor],
    mistakes: frozenset[str] = frozenset(),
    eps: float = NORM_EPS,
) -> torch.Tensor:
    """LPIPS from taps (one distance per pair), optionally with some of ``MISTAKES`` made on purpose."""
    return layer_terms(f0, f1, weights, mistakes, eps).sum(0)


def map_variant(
    f0: list[torch.Tensor],
    f1: list[torch.Tensor],
    weights: list[torch.Tensor],
    size: tuple[int, int],
    mistakes: frozenset[str] = frozenset(),
    eps: float = NORM_EPS,
) -> torch.Tensor:
    """The LPIPS distance map (N x 1 x H x W), optionally with some of ``MISTAKES`` and ``MAP_MISTAKES``."""

    def up(x):  # N x C x h x w -> N x C x H x W
        if "nearest" in mistakes:
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode="bilinear", align_corners="align_corners" in mistakes)

    total = 0
    for a, b, w in zip(f0, f1, weights):
        if "features_upsampled" in mistakes:
            a, b = up(a.double()), up(b.double())
        d = _per_position(a, b, w, mistakes, eps)[:, None]
        if "mean_before_upsampling" in mistakes:
            d = d.mean(dim=(2, 3), keepdim=True)
        total = total + (d if "features_upsampled" in mistakes else up(d))
    return total / len(f0) if "layer_mean" in mistakes else total


def _compatible(combo: tuple[str, ...]) -> bool:
    s = set(combo)
    return all(len(s & group) <= 1 for group in (NORMALISATION, SQUARING, CHANNELS, UPSAMPLING, SHARES))


def _identify(student: torch.Tensor, variant, names, rtol: float, max_mistakes: int = 2) -> tuple[str, ...] | None:
    """The smallest set of mistakes among ``names`` for which ``variant(mistakes)`` reproduces ``student``."""
    student = student.detach().double()
    for r in range(1, max_mistakes + 1):
        for combo in itertools.combinations(names, r):
            if not _compatible(combo) or (r > 1 and ALONE & set(combo)):
                continue
            v = variant(frozenset(combo))
            if v.shape == student.shape and torch.allclose(student, v, rtol=rtol, atol=0.0, equal_nan=True):
                return combo
    return None


def identify_mistakes(student: torch.Tensor, f0, f1, weights, max_mistakes: int = 2) -> tuple[str, ...] | None:
    """The smallest set of ``MISTAKES`` whose variant reproduces ``student`` (None if none does)."""
    return _identify(student.reshape(-1), lambda m: lpips_variant(f0, f1, weights, m), MISTAKES, 1e-3, max_mistakes)


def identify_map_mistakes(student: torch.Tensor, f0, f1, weights, size) -> tuple[str, ...] | None:
    """The smallest set of map and per-position mistakes that reproduces a student's map (N x 1 x H x W)."""
    names = (*MAP_MISTAKES, *PER_POSITION, "layer_mean")
    return _identify(student, lambda m: map_variant(f0, f1, weights, size, m), names, 1e-3)


def identify_contribution_mistakes(student: torch.Tensor, f0, f1, weights, size) -> tuple[str, ...] | None:
    """The smallest set of mistakes that reproduces a student's per-tap terms (L x N).

    Tighter than the distance's 1e-3: reading the terms off the upsampled maps
    is off by only a few 1e-4.
    """
    names = (*CONTRIBUTION_MISTAKES, *PER_POSITION, "spatial_sum", "sqrt_distance")
    return _identify(student, lambda m: layer_terms(f0, f1, weights, m, image_size=size), names, 2e-5)


def _explain(combo: tuple[str, ...] | None, fallback: str) -> str:
    """'. It looks like <the mistakes>.', or the fallback advice."""
    table = {**MISTAKES, **MAP_MISTAKES, **CONTRIBUTION_MISTAKES}
    if combo:
        return ". It looks like " + "; and ".join(table[m] for m in combo) + "."
    return ". None of the usual mistakes reproduces your numbers; " + fallback


# --------------------------------------------------------------------------- the cases


@lru_cache(maxsize=1)
def reference_case() -> dict:
    """Raw AlexNet taps of three photos and distorted copies, the official heads, and LPIPS's distances.

    The backbone is a seeded random AlexNet (offline, identical everywhere); the
    arithmetic being checked does not depend on what the backbone learned.
    """
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    metric = LPIPS(net="alex", pnet_rand=True)
    torch.random.set_rng_state(state)
    x0 = torch.cat([to_tensor(load_sample(n, size=64), (-1.0, 1.0)) for n in ("chelsea", "astronaut", "coffee")])
    clean = (x0 + 1) / 2
    x1 = (
        torch.cat([distort(d, clean[i : i + 1], 0.5, seed=i) for i, d in enumerate(("blur", "gaussian_noise", "jpeg"))])
        * 2
        - 1
    )
    with torch.no_grad():
        f0 = [t.float().contiguous() for t in metric.net.forward_features(metric.scaling_layer(x0)).values()]
        f1 = [t.float().contiguous() for t in metric.net.forward_features(metric.scaling_layer(x1)).values()]
        expected, layers = metric(x0, x1, retPerLayer=True)
        metric.spatial = True  # a plain flag, read on every call (as in the lpips package)
        expected_map = metric(x0, x1)
    weights = [lin.weight.detach().flatten().clone() for lin in metric.lins]
    return {
        "f0": f0,
        "f1": f1,
        "weights": weights,
        "expected": expected.flatten(),
        "expected_layers": torch.stack([t.flatten() for t in layers]),  # taps x pairs
        "expected_map": expected_map,  # N x 1 x H x W
        "image_size": tuple(x0.shape[-2:]),
        "images": (clean, (x1 + 1) / 2),  # in [0, 1], for the figure
    }


def small_case(scale: float = 1e-6, zeros: bool = False) -> dict:
    """Random non-negative features of a given size; with ``zeros``, some positions are exactly 0 (dead ReLUs)."""
    g = torch.Generator().manual_seed(1)
    shapes = [(2, 4, 5, 5), (2, 6, 3, 3)]
    f0 = [torch.rand(s, generator=g) * scale for s in shapes]
    f1 = [torch.rand(s, generator=g) * scale for s in shapes]
    if zeros:
        for a, b in zip(f0, f1):
            a[:, :, 0, :] = 0
            b[:, :, 0, :] = 0
            a[:, :, :, 1] = 0
    weights = [torch.rand(s[1], generator=g) for s in shapes]
    return {"f0": f0, "f1": f1, "weights": weights, "expected": lpips_variant(f0, f1, weights).float()}


def divisible_case() -> dict:
    """Random features whose taps (4 x 6 and 2 x 3) divide the image (8 x 12): there the map's mean is the distance.

    Bilinear upsampling by an integer factor with align_corners=False gives
    every input position the same total weight, so it keeps the mean exactly;
    AlexNet's taps at 64 px (15, 7 and 3 positions) do not divide the image.
    The image is not square, so H and W cannot be swapped unnoticed.
    """
    g = torch.Generator().manual_seed(2)
    shapes = [(2, 4, 4, 6), (2, 6, 2, 3)]
    f0 = [torch.rand(s, generator=g) for s in shapes]
    f1 = [torch.rand(s, generator=g) for s in shapes]
    weights = [torch.rand(s[1], generator=g) for s in shapes]
    return {"f0": f0, "f1": f1, "weights": weights, "size": (8, 12), "expected": lpips_variant(f0, f1, weights)}


def _copies(tensors):
    return [t.clone() for t in tensors]


# --------------------------------------------------------------------------- A2.1


@exercise("A2.1 normalize_channels", points=3)
def check_normalize_channels(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "normalize_channels")
    x = reference_case()["f0"][1]
    out = call_by_name(namespace, "normalize_channels", x.clone())
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        raise NotReady(
            f"normalize_channels should return a tensor of the input's shape {tuple(x.shape)}, got "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
        )
    norms = out.double().pow(2).sum(dim=1).sqrt()
    alive = x.double().pow(2).sum(dim=1) > 0
    unit = bool(torch.allclose(norms[alive], torch.ones_like(norms[alive]), atol=1e-4))
    spatial = out.double().pow(2).sum(dim=(2, 3)).sqrt()
    if unit:
        why = "every feature vector (the C values at one position) has length 1"
    elif torch.allclose(spatial, torch.ones_like(spatial), atol=1e-4):
        why = "each channel map has length 1 over the positions: normalise along the channels instead, dim=1"
    else:
        why = (
            f"the vectors along dim=1 have lengths between {norms[alive].min():.3g} and {norms[alive].max():.3g}, not 1"
        )
    report.add("unit length along the channels", 1, unit, why)

    tiny = small_case(1e-6)["f0"][0]
    got = call_by_name(namespace, "normalize_channels", tiny.clone())
    expected = normalize_tensor(tiny)
    ok = (
        isinstance(got, torch.Tensor)
        and got.shape == tiny.shape
        and torch.allclose(got, expected, rtol=RTOL, atol=1e-6)
    )
    if ok:
        why = "matches lpips_edu.lpips.metric.normalize_tensor, also for small features (eps added to the norm)"
    elif isinstance(got, torch.Tensor) and torch.allclose(
        got, tiny / (tiny.pow(2).sum(1, keepdim=True) + NORM_EPS).sqrt(), rtol=1e-3
    ):
        why = MISTAKES["eps_inside_sqrt"]
    else:
        why = "differs from x / (||x|| + eps) with eps=1e-10 on features of size ~1e-6"
    report.add("eps added to the norm", 1, bool(ok), why)

    zero = small_case(1.0, zeros=True)["f0"][0]
    got = call_by_name(namespace, "normalize_channels", zero.clone())
    finite = isinstance(got, torch.Tensor) and bool(torch.isfinite(got).all())
    report.add(
        "zero vectors stay finite", 1, finite, "an all-zero feature vector stays 0" if finite else MISTAKES["no_eps"]
    )


# --------------------------------------------------------------------------- A2.2


def _student_distances(namespace: Mapping, case: dict) -> tuple[torch.Tensor, bool]:
    f0, f1, w = _copies(case["f0"]), _copies(case["f1"]), _copies(case["weights"])
    out = call_returning(namespace, "lpips_from_features", torch.Tensor, "a tensor", f0, f1, w)
    untouched = all(torch.equal(a, b) for a, b in zip(f0 + f1, case["f0"] + case["f1"]))
    return out.detach(), untouched


@exercise("A2.2 lpips_from_features", points=6)
def check_lpips_from_features(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "lpips_from_features")
    case = reference_case()
    got, untouched = _student_distances(namespace, case)
    n = len(case["expected"])
    shape_ok = got.numel() == n and got.shape in {(n,), (n, 1, 1, 1), (n, 1)}
    report.add(
        "one distance per pair",
        1,
        shape_ok and untouched,
        (
            f"shape {tuple(got.shape)}"
            + (
                " (one distance per image pair)"
                if shape_ok
                else f"; expected {n} distances, shape ({n},) or ({n}, 1, 1, 1): sum over layers, mean over positions"
            )
        )
        + (
            ""
            if untouched
            else "; your function changed the feature tensors passed to it (an in-place "
            "operation such as /= or .sub_): compute new tensors instead"
        ),
    )

    expected = case["expected"]
    flat = got.reshape(-1)[:n].double() if got.numel() >= n else got.reshape(-1).double()
    match = flat.shape == expected.shape and torch.allclose(flat, expected.double(), rtol=RTOL, atol=ATOL)
    if match:
        why = "equal to lpips_edu.LPIPS(net='alex') on the same taps and heads: " + ", ".join(
            f"{v:.4f}" for v in expected
        )
    else:
        combo = identify_mistakes(got, case["f0"], case["f1"], case["weights"]) if got.numel() == n else None
        shown = ", ".join(f"{v:.4g}" for v in flat[:3])
        why = f"yours {shown}; LPIPS gives " + ", ".join(f"{v:.4g}" for v in expected)
        if combo:
            why += ". It looks like " + "; and ".join(MISTAKES[m] for m in combo) + "."
        else:
            why += (
                ". None of the usual mistakes reproduces your numbers; check each step on one layer: "
                "normalise, subtract, square, weight the channels, mean over positions, sum over layers."
            )
    report.add("matches lpips_edu.LPIPS", 3, match, why)

    small = small_case(1e-6)
    got_small, _ = _student_distances(namespace, small)
    ok = got_small.numel() == len(small["expected"]) and torch.allclose(
        got_small.reshape(-1).double(), small["expected"].double(), rtol=1e-3, atol=ATOL
    )
    if ok:
        why = "correct for features of size ~1e-6 (eps is added to the norm, as in LPIPS)"
    else:
        combo = (
            identify_mistakes(got_small, small["f0"], small["f1"], small["weights"])
            if got_small.numel() == len(small["expected"])
            else None
        )
        why = "wrong for features of size ~1e-6" + (
            ": " + "; and ".join(MISTAKES[m] for m in combo)
            if combo
            else ": compute x / (||x|| + eps) with eps = 1e-10"
        )
    report.add("small features (where eps goes)", 1, bool(ok), why)

    zero = small_case(1.0, zeros=True)
    got_zero, _ = _student_distances(namespace, zero)
    finite = bool(torch.isfinite(got_zero).all())
    report.add(
        "dead ReLU positions stay finite",
        1,
        finite,
        "feature vectors that are exactly 0 give finite distances" if finite else MISTAKES["no_eps"],
    )


# --------------------------------------------------------------------------- A2.3


def _student_map(namespace: Mapping, f0, f1, weights, size) -> tuple[torch.Tensor, bool]:
    a, b, w = _copies(f0), _copies(f1), _copies(weights)
    out = call_returning(namespace, "lpips_map", torch.Tensor, "a tensor", a, b, w, size)
    return out.detach(), all(torch.equal(x, y) for x, y in zip(a + b, f0 + f1))


@exercise("A2.3 lpips_map", points=5)
def check_lpips_map(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "lpips_map")
    case = reference_case()
    expected, size = case["expected_map"], case["image_size"]
    got, untouched = _student_map(namespace, case["f0"], case["f1"], case["weights"], size)
    n, (h, w) = expected.shape[0], size
    shape_ok = tuple(got.shape) == tuple(expected.shape)
    if shape_ok:
        why = f"shape {tuple(got.shape)}: one map per pair, at the image's {h} x {w} pixels"
    elif tuple(got.shape) == (n, h, w):
        why = f"shape {tuple(got.shape)}: keep the channel dimension, N x 1 x H x W, as LPIPS(spatial=True) returns"
    elif got.ndim == 4 and tuple(got.shape[-2:]) == (w, h) and h != w:
        why = f"shape {tuple(got.shape)}: out_size is (H, W), rows first"
    else:
        why = (
            f"shape {tuple(got.shape)}; expected {tuple(expected.shape)}: upsample every tap's "
            "N x 1 x H_l x W_l map to out_size and add the taps up"
        )
    if not untouched:
        why += "; your function changed the feature tensors passed to it (an in-place operation): compute new ones"
    report.add("a map per pair, at the image size", 1, shape_ok and untouched, why)

    flat = got.reshape(expected.shape) if got.numel() == expected.numel() else None
    match = flat is not None and torch.allclose(flat.double(), expected.double(), rtol=RTOL, atol=ATOL)
    if match:
        why = (
            "equal, pixel by pixel, to lpips_edu.LPIPS(net='alex', spatial=True) on the same taps and heads "
            f"(the maps' means: {', '.join(f'{v:.4f}' for v in expected.mean(dim=(1, 2, 3)))})"
        )
    else:
        combo = None
        if flat is not None:
            combo = identify_map_mistakes(flat, case["f0"], case["f1"], case["weights"], size)
            why = (
                f"your map's means {', '.join(f'{v:.4g}' for v in flat.double().mean(dim=(1, 2, 3)))}, "
                f"the largest pixel difference {(flat.double() - expected.double()).abs().max():.3g}; "
                "LPIPS(spatial=True) gives means " + ", ".join(f"{v:.4g}" for v in expected.mean(dim=(1, 2, 3)))
            )
        else:
            why = f"{got.numel()} values, LPIPS(spatial=True) gives {expected.numel()} (N x 1 x H x W)"
        why += _explain(
            combo,
            "for each tap: the weighted squared difference summed over the channels (N x 1 x H_l x W_l), "
            "F.interpolate(..., size=out_size, mode='bilinear', align_corners=False), then the sum over taps.",
        )
    report.add("matches LPIPS(spatial=True)", 3, match, why)

    small = divisible_case()
    got_small, _ = _student_map(namespace, small["f0"], small["f1"], small["weights"], small["size"])
    n = len(small["expected"])
    ok = got_small.numel() == n * small["size"][0] * small["size"][1]
    if ok:
        means = got_small.double().reshape(n, -1).mean(1)
        ok = bool(torch.allclose(means, small["expected"], rtol=1e-4, atol=ATOL))
    if ok:
        why = (
            "where every tap's size divides the image's (4 x 6 and 2 x 3 taps, an 8 x 12 image), the map's mean "
            "is the scalar distance: bilinear upsampling by a whole factor keeps the mean"
        )
    else:
        combo = None
        if got_small.numel() == n * small["size"][0] * small["size"][1]:
            combo = identify_map_mistakes(
                got_small.reshape(n, 1, *small["size"]), small["f0"], small["f1"], small["weights"], small["size"]
            )
        why = (
            "on taps of 4 x 6 and 2 x 3 positions and an 8 x 12 image, where bilinear upsampling keeps the mean, "
            "your map's mean is not the scalar distance "
            + ", ".join(f"{v:.4g}" for v in small["expected"])
            + _explain(combo, "check that out_size is read as (H, W) and that align_corners=False.")
        )
    report.add("its mean is the distance where the taps divide the image", 1, ok, why)


# --------------------------------------------------------------------------- A2.4


@exercise("A2.4 plot_map", points=2)
def check_plot_map(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "plot_map")
    case = reference_case()
    clean, distorted = case["images"]
    dmap = case["expected_map"][0, 0]
    fig = call_by_name(namespace, "plot_map", clean[0].clone(), distorted[0].clone(), dmap.clone())
    if fig is None or not hasattr(fig, "axes"):
        raise NotReady(f"plot_map should return the matplotlib Figure (return fig), got {type(fig).__name__}")
    try:
        images = [im for ax in fig.axes for im in ax.get_images()]
        shown = [
            im
            for im in images
            if np.shape(im.get_array()) == tuple(dmap.shape)
            and np.allclose(np.asarray(im.get_array(), dtype=float), dmap.numpy(), rtol=1e-5, atol=1e-9)
        ]
        ok = len(images) >= 3 and bool(shown)
        if ok:
            why = f"{len(images)} images, the map among them"
        elif not shown:
            why = (
                f"{len(images)} images, none of them the map as it is: imshow the H x W map itself "
                "(dmap, not a rescaled or upsampled copy)"
            )
        else:
            why = f"{len(images)} image(s): show the photo, the distorted copy and the map side by side"
        report.add("the photo, the distorted copy and the map", 1, ok, why)
        bar = shown[0].colorbar if shown else None
        label = (bar.ax.get_ylabel() or bar.ax.get_xlabel()) if bar is not None else ""
        report.add(
            "the map's colour bar says what it shows",
            1,
            bool(label),
            f"colour bar labelled {label!r}"
            if label
            else (
                "no colour bar for the map: fig.colorbar(image, ax=..., label='distance per pixel')"
                if bar is None
                else "the colour bar has no label: fig.colorbar(..., label='distance per pixel')"
            ),
        )
    finally:
        plt.close(fig)  # the check must not draw the figure a second time


# --------------------------------------------------------------------------- A2.5


@exercise("A2.5 layer_contributions", points=3)
def check_layer_contributions(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "layer_contributions")
    case = reference_case()
    f0, f1, w = _copies(case["f0"]), _copies(case["f1"]), _copies(case["weights"])
    got = call_returning(namespace, "layer_contributions", torch.Tensor, "a tensor", f0, f1, w).detach()
    untouched = all(torch.equal(a, b) for a, b in zip(f0 + f1, case["f0"] + case["f1"]))
    expected = case["expected_layers"]
    taps, pairs = expected.shape
    shape_ok = tuple(got.shape) == (taps, pairs)
    if shape_ok:
        why = f"shape {tuple(got.shape)}: one row per tap, one column per image pair"
    elif tuple(got.shape) == (pairs, taps):
        why = f"shape {tuple(got.shape)}: one row per tap, so taps x pairs ({taps} x {pairs}): torch.stack the terms"
    else:
        why = f"shape {tuple(got.shape)}; expected taps x pairs, {taps} x {pairs}"
    if not untouched:
        why += "; your function changed the feature tensors passed to it (an in-place operation): compute new ones"
    report.add("one row per tap, one column per pair", 1, shape_ok and untouched, why)

    # taps and pairs swapped costs the shape's point only; the values are read the right way round
    terms = got.double() if shape_ok else got.double().T if tuple(got.shape) == (pairs, taps) else None
    match = terms is not None and torch.allclose(terms, expected.double(), rtol=RTOL, atol=ATOL)
    if match:
        why = "equal to the per-tap terms of lpips_edu.LPIPS(retPerLayer=True)"
    else:
        combo = None
        if terms is not None:
            combo = identify_contribution_mistakes(terms, case["f0"], case["f1"], case["weights"], case["image_size"])
        shown = ", ".join(f"{v:.4g}" for v in (terms[:, 0] if terms is not None else got.reshape(-1)[:taps]))
        why = f"first pair: yours {shown}; LPIPS(retPerLayer=True) gives " + ", ".join(
            f"{v:.4g}" for v in expected[:, 0]
        )
        why += _explain(
            combo,
            "each tap's term is its weighted squared difference, summed over the channels and averaged over "
            "the tap's positions: lpips_from_features called with that one tap.",
        )
    report.add("equal to LPIPS's per-tap terms", 1, match, why)

    total = case["expected"].double()
    sums = terms.sum(0) if terms is not None else None
    adds_up = sums is not None and torch.allclose(sums, total, rtol=RTOL, atol=ATOL)
    if adds_up:
        why = "the terms of each pair add up to its distance: " + ", ".join(f"{v:.4g}" for v in total)
    elif sums is not None and torch.allclose(sums, torch.ones_like(sums), rtol=1e-4):
        why = "the terms of each pair add up to 1, not to its distance: " + CONTRIBUTION_MISTAKES["fractions"]
    else:
        why = (
            "the terms of each pair should add up to its distance, "
            + ", ".join(f"{v:.4g}" for v in total)
            + (f"; yours add up to {', '.join(f'{v:.4g}' for v in sums)}" if sums is not None else "")
        )
    report.add("the terms add up to the distance", 1, adds_up, why)


QUESTION = "why does LPIPS scale every feature vector to unit length before comparing?"

check_answer = written_answer("A2.6 written answer", 2, QUESTION)


CHECKS = (
    check_normalize_channels,
    check_lpips_from_features,
    check_lpips_map,
    check_plot_map,
    check_layer_contributions,
    check_answer,
)


grade = grader("A2 LPIPS from feature maps", CHECKS)

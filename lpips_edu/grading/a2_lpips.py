"""Checks for assignment 2: LPIPS from feature maps.

* A2.1 ``normalize_channels``: unit length along the channels, ``x / (||x|| + eps)``;
* A2.2 ``lpips_from_features``: normalise, difference, square, weight, average over
  positions, sum over layers; compared with ``lpips_edu.LPIPS`` on the same taps.

When a result is wrong, the check recomputes LPIPS with each classic mistake
(and every pair of them) and says which one reproduces the student's numbers:
"no channel normalisation" is something a student can fix, "wrong" is not.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from functools import lru_cache

import torch

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
NORMALISATION = {"no_normalisation", "spatial_normalisation", "eps_inside_sqrt", "no_eps"}
SQUARING = {"no_square", "weights_before_square"}
CHANNELS = {"no_weights", "channel_mean", "weights_before_square"}


def lpips_variant(
    f0: list[torch.Tensor],
    f1: list[torch.Tensor],
    weights: list[torch.Tensor],
    mistakes: frozenset[str] = frozenset(),
    eps: float = NORM_EPS,
) -> torch.Tensor:
    """LPIPS from taps (one distance per pair), optionally with some of ``MISTAKES`` made on purpose."""

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

    layers = []
    for a, b, w in zip(f0, f1, weights):
        d = norm(a.double()) - norm(b.double())
        w = w.double().reshape(1, -1, 1, 1)
        if "weights_before_square" in mistakes:
            d = (w * d).pow(2).sum(dim=1)
        else:
            d = d.abs() if "no_square" in mistakes else d.pow(2)
            if "no_weights" in mistakes:
                d = d.sum(dim=1)
            elif "channel_mean" in mistakes:
                d = (w * d).mean(dim=1)
            else:
                d = (w * d).sum(dim=1)
        d = d.sum(dim=(1, 2)) if "spatial_sum" in mistakes else d.mean(dim=(1, 2))
        layers.append(d.sqrt() if "sqrt_distance" in mistakes else d)
    total = torch.stack(layers)
    return total.mean(0) if "layer_mean" in mistakes else total.sum(0)


def _compatible(combo: tuple[str, ...]) -> bool:
    s = set(combo)
    return len(s & NORMALISATION) <= 1 and len(s & SQUARING) <= 1 and len(s & CHANNELS) <= 1


def identify_mistakes(student: torch.Tensor, f0, f1, weights, max_mistakes: int = 2) -> tuple[str, ...] | None:
    """The smallest set of ``MISTAKES`` whose variant reproduces ``student`` (None if none does)."""
    student = student.detach().double().reshape(-1)
    for r in range(1, max_mistakes + 1):
        for combo in itertools.combinations(MISTAKES, r):
            if not _compatible(combo):
                continue
            variant = lpips_variant(f0, f1, weights, frozenset(combo))
            if variant.shape == student.shape and torch.allclose(student, variant, rtol=1e-3, atol=0.0, equal_nan=True):
                return combo
    return None


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
        expected = metric(x0, x1).flatten()
    weights = [lin.weight.detach().flatten().clone() for lin in metric.lins]
    return {"f0": f0, "f1": f1, "weights": weights, "expected": expected}


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


QUESTION = "why does LPIPS scale every feature vector to unit length before comparing?"

check_answer = written_answer("A2.3 written answer", 2, QUESTION)


CHECKS = (check_normalize_channels, check_lpips_from_features, check_answer)


grade = grader("A2 LPIPS from feature maps", CHECKS)

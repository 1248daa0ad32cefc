"""Checks for assignment 6: break the metric with a projected-gradient attack.

* A6.1 ``pgd_attack(metric, ref, x, eps, steps)``: the student's own PGD loop, which
  pushes the images ``x`` away from the references ``ref`` under ``metric``,
  changing no pixel by more than ``eps``;
* A6.2 ``attack_triplets(metric, ref, p0, p1, eps, steps)``: the 2AFC framing
  around it: attack the candidate the metric judged closer, round to 8 bits,
  return both candidates.

The checks never use the notebook's triplets: they draw their own (a fixed
seed, photos and strengths the notebook does not use), call the student's
function with copies, and judge what a saved PNG would hold: the returned
images rounded to 8 bits (``quantize_8bit``), measured with ``lpips_edu.LPIPS``
(AlexNet, the features the book uses).

The budget is checked exactly, on the 8-bit grid. The originals are 8-bit
images, k/255; a pixel moved by at most ``eps`` (e = 255 eps levels) and then
rounded lands at most ``floor(e + 1/2)`` levels from k: rounding is monotone,
so it cannot pass the grid point nearest to the edge of the ball, k + e, and a
tie (e ending in .5) may round up. The check counts levels, integers after
rounding, so no float tolerance is involved. The checks use a whole number of
levels, ``eps`` = 3/255, for which the bound is ``eps`` itself: an attack that
stays inside the ball before rounding always passes, and one pixel a level
outside it fails.

When an attack does not flip enough decisions the check says why, from
measurements rather than guesses: the distances went *down* (a step against
the gradient), the flips were there before rounding and gone after it (steps
smaller than half a level, which a PNG cannot store), or the attack is merely
too weak; a random perturbation of the same size is the baseline an attack
must beat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

import torch

from ..calibrate import BenchmarkConfig, make_offline_2afc
from ..lpips.attack import closer_candidates, quantize_8bit
from ..lpips.metric import LPIPS
from .attempt import NotReady, call_by_name, exercise, grader, lookup
from .report import Report

EPS_LEVELS = 3  # the budget the checks use: 3/255 per pixel, a whole number of 8-bit levels
STEPS = 6  # gradient steps the checks allow
N_ATTACK, N_TRIPLETS = 12, 8  # triplets for A6.1 and for A6.2
FLIP_BAR = 0.75  # share of decisions that must flip after 8-bit rounding; a correct attack clears it
SEED = 2718  # the checks' triplets; the notebook uses others
PHOTOS = ("astronaut", "coffee", "rocket", "china", "flower", "grace_hopper")
GAPS = (0.05, 0.2)  # strength gaps between the candidates: decisions that take an attack to flip


@lru_cache(maxsize=1)
def attack_case() -> dict:
    """The checks' triplets (8-bit), LPIPS's distances and which candidate it judged closer."""
    try:
        metric = LPIPS("alex", check_inputs=False)  # out-of-range images reach the range check below
    except (FileNotFoundError, RuntimeError, ValueError) as exc:  # the ImageNet features are not on this machine
        raise NotReady(f"the checks need LPIPS('alex'): {str(exc).strip().splitlines()[0][:200]}") from None
    n = max(N_ATTACK, N_TRIPLETS)
    data = make_offline_2afc(n, list(PHOTOS), SEED, BenchmarkConfig(64, gap_range=GAPS))
    ref, p0, p1 = (quantize_8bit(t).contiguous() for t in (data.ref, data.p0, data.p1))
    with torch.no_grad():
        d0, d1 = metric(ref, p0, normalize=True).flatten(), metric(ref, p1, normalize=True).flatten()
    closer, d_farther, p1_closer = closer_candidates(d0, d1, p0, p1)
    return {
        "metric": metric,
        "ref": ref,
        "p0": p0,
        "p1": p1,
        "d0": d0,
        "d1": d1,
        "closer": closer,
        "d_farther": d_farther,
        "p1_closer": p1_closer,
        "eps": EPS_LEVELS / 255,
    }


@torch.no_grad()
def distances(metric: LPIPS, ref: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d(ref_i, x_i) for [0, 1] images, one number per pair."""
    return metric(ref, x, normalize=True).flatten()


def allowed_levels(eps: float) -> int:
    """The most 8-bit levels a pixel may move after rounding, for a budget of ``eps`` (see the module docstring)."""
    return math.floor(255 * eps + 0.5)


def levels_moved(images: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """How many 8-bit levels each pixel of ``images``, rounded to 8 bits, lies from the 8-bit ``original``."""
    return (torch.round(images.detach().double() * 255) - torch.round(original.double() * 255)).abs()


def random_baseline(case: dict, n: int) -> float:
    """The flip rate of random +-eps noise on the closer candidates: what an attack must beat."""
    g = torch.Generator().manual_seed(SEED)
    closer = case["closer"][:n]
    signs = torch.randint(0, 2, closer.shape, generator=g).mul(2).sub(1)
    noisy = quantize_8bit((closer + case["eps"] * signs).clamp(0, 1))
    return (distances(case["metric"], case["ref"][:n], noisy) > case["d_farther"][:n]).float().mean().item()


def _as_images(out, like: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise NotReady(f"{name} should return a tensor of images, got {type(out).__name__}")
    if out.shape != like.shape:
        raise NotReady(f"{name} should return images of the input's shape {tuple(like.shape)}, got {tuple(out.shape)}")
    if not torch.isfinite(out).all():
        raise NotReady(f"{name} returned NaN or infinite values: check the gradient step")
    return out.detach().float()


# --------------------------------------------------------------------------- A6.1


def run_attack(namespace: Mapping, n: int = N_ATTACK) -> dict:
    """Call the student's ``pgd_attack`` on copies of the checks' closer candidates; measure what came back."""
    case = attack_case()
    metric, eps = case["metric"], case["eps"]
    ref, closer, d_farther = case["ref"][:n], case["closer"][:n], case["d_farther"][:n]
    ref_in, x_in = ref.clone(), closer.clone()
    out = call_by_name(namespace, "pgd_attack", metric, ref_in, x_in, eps, STEPS)
    adv = _as_images(out, closer, "pgd_attack")
    valid = adv.clamp(0, 1)
    rounded = quantize_8bit(valid)
    d_start = torch.minimum(case["d0"], case["d1"])[:n]
    d_before, d_after = distances(metric, ref, valid), distances(metric, ref, rounded)
    changed = (adv - closer).abs()
    moved = changed > 1e-7
    return {
        "case": case,
        "n": n,
        "adv": adv,
        "ref_changed": not torch.equal(ref_in, ref),
        "ref_grad": ref_in.grad is not None,
        "ref_requires_grad": ref_in.requires_grad,
        "x_changed": not torch.equal(x_in.detach(), closer),
        "levels": int(levels_moved(adv, closer).max()),
        "max_change": float(changed.max()) * 255,
        "below": float(adv.min()),
        "above": float(adv.max()),
        "flip_before": (d_before > d_farther).float().mean().item(),
        "flip_after": (d_after > d_farther).float().mean().item(),
        # the direction of the steps, before rounding can blur it
        "farther_share": (d_before > d_start).float().mean().item(),
        "median_change": (d_before - d_start).median().item(),
        "sub_level": (moved & (changed < 0.5 / 255)).sum().item() / max(int(moved.sum()), 1),
        "kept": (levels_moved(adv.clamp(0, 1), closer).sum() / (255 * changed).sum().clamp_min(1e-12)).item(),
    }


def flip_feedback(got: dict, baseline: float) -> tuple[bool, str]:
    """Whether enough decisions flipped after rounding, and, if not, the measured reason."""
    before, after = got["flip_before"], got["flip_after"]
    rates = (
        f"{after:.0%} of {got['n']} decisions flipped after rounding to 8 bits ({before:.0%} before); "
        f"the bar is {FLIP_BAR:.0%}, random +-eps noise flips {baseline:.0%}"
    )
    if after >= FLIP_BAR:
        return True, rates
    if got["max_change"] == 0:
        return False, (
            f"{rates}. Your attack returned the images unchanged: assign the result of each step "
            "(x = ...) and return the attacked copy, not the input"
        )
    if got["median_change"] < 0 or after <= baseline and got["farther_share"] < 0.5:
        return False, (
            f"{rates}. The attacked candidates moved *closer* to the reference ({got['farther_share']:.0%} of the "
            f"distances went up, median change {got['median_change']:+.4f}): the step goes the wrong way. To make "
            "the metric judge the candidate farther, step up the gradient of the distance, x + alpha * sign(grad), "
            "and do not minimise it"
        )
    if before >= FLIP_BAR or before - after >= 0.25 or got["kept"] < 0.5:
        return False, (
            f"{rates}. The perturbations round away: {got['sub_level']:.0%} of the changed pixels moved by less "
            f"than half a level (1/510), and rounding kept only {got['kept']:.0%} of the total change. A saved "
            "image holds 8 bits: take steps of at least 1/255 (alpha >= 1/255, or eps / 2), keep moving after a "
            "flip, or check the decision on quantize_8bit(x)"
        )
    return False, (
        f"{rates}. The attack is too weak: use every step you are given, a step alpha of about eps / 2 (at least "
        "1/255, so that the change survives rounding), the sign of the gradient of d(ref, x) with respect to x, "
        "and a fresh gradient at every step (x.grad accumulates if you reuse the tensor)"
    )


@exercise("A6.1 pgd_attack", points=8)
def check_pgd_attack(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "pgd_attack")
    got = run_attack(namespace)
    eps_levels = allowed_levels(got["case"]["eps"])
    budget = got["levels"] <= eps_levels
    if budget:
        why = f"no pixel of the 8-bit result moved by more than {eps_levels}/255 (largest change {got['levels']}/255)"
    else:
        why = (
            f"a pixel moved by {got['levels']}/255 after rounding (by {got['max_change']:.2f}/255 before), over "
            f"the budget eps = {eps_levels}/255: after each step, project back onto the eps-ball around the "
            "ORIGINAL image, x = x0 + (x - x0).clamp(-eps, eps)"
        )
        if got["x_changed"]:
            why += (
                "; your function also changed the images passed to it in place, so the centre of the ball "
                "moved with the attack: keep x0 untouched (work on x0.clone())"
            )
    report.add(f"within the eps-ball ({eps_levels}/255, after 8-bit rounding)", 2, budget, why)

    in_range = got["below"] >= 0 and got["above"] <= 1
    report.add(
        "valid images in [0, 1]",
        1,
        in_range,
        "every value lies in [0, 1]"
        if in_range
        else f"values from {got['below']:.4f} to {got['above']:.4f}: clamp to the image range after the projection, "
        "x.clamp(0, 1); a pixel at 0 or 1 that the step pushes out is no longer an image a file can hold",
    )

    problems = []
    if got["ref_changed"]:
        problems.append("the reference images were modified (an in-place update of ref): only x may move")
    if got["ref_grad"] or got["ref_requires_grad"]:
        problems.append(
            "the reference came back with "
            + " and ".join(
                w for w, on in (("requires_grad=True", got["ref_requires_grad"]), ("a .grad", got["ref_grad"])) if on
            )
            + ": gradients flowed through the reference. The reference is fixed: do not call "
            "ref.requires_grad_(); only the attacked copy of x needs a gradient"
        )
    fixed = not problems
    report.add(
        "the reference held fixed",
        1,
        fixed,
        "the reference is unchanged, with no gradient and requires_grad=False" if fixed else "; and ".join(problems),
    )

    baseline = random_baseline(got["case"], got["n"])
    ok, why = flip_feedback(got, baseline)
    report.add(f"flips LPIPS's decisions (eps {eps_levels}/255, {STEPS} steps)", 4, ok, why)


# --------------------------------------------------------------------------- A6.2


def _pair(out, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise NotReady(f"attack_triplets should return the two candidates (p0, p1), got {type(out).__name__}")
    return tuple(_as_images(o, like, "attack_triplets") for o in out)


@exercise("A6.2 attack_triplets", points=3)
def check_attack_triplets(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "attack_triplets")
    case = attack_case()
    n, metric, eps = N_TRIPLETS, case["metric"], case["eps"]
    ref, p0, p1 = (case[k][:n] for k in ("ref", "p0", "p1"))
    out = call_by_name(namespace, "attack_triplets", metric, ref.clone(), p0.clone(), p1.clone(), eps, STEPS)
    q0, q1 = _pair(out, p0)
    changed0 = (q0 != p0).flatten(1).any(1)
    changed1 = (q1 != p1).flatten(1).any(1)
    p1_closer = case["p1_closer"][:n]
    right = torch.where(p1_closer, changed1 & ~changed0, changed0 & ~changed1)
    wrong = torch.where(p1_closer, changed0 & ~changed1, changed1 & ~changed0)
    both = changed0 & changed1
    if bool(right.all()):
        why = "in every triplet only the candidate LPIPS judged closer changed"
    elif bool(wrong.any()):
        why = (
            f"in {int(wrong.sum())} of {n} triplets the candidate LPIPS judged FARTHER was changed: attack the "
            "closer one (d(ref, p0) <= d(ref, p1): p0, else p1), and return the other one as it came"
        )
    elif bool(both.any()):
        why = (
            f"in {int(both.sum())} of {n} triplets both candidates changed: attack only the closer one and "
            "return the other unchanged"
        )
    else:
        why = f"in {int((~changed0 & ~changed1).sum())} of {n} triplets neither candidate changed"
    report.add("attacks the candidate judged closer", 1, bool(right.all()), why)

    grid = max(float((q * 255 - torch.round(q * 255)).abs().max()) for q in (q0, q1))
    on_grid = grid < 1e-3 and min(float(q0.min()), float(q1.min())) >= 0 and max(float(q0.max()), float(q1.max())) <= 1
    report.add(
        "rounded to 8 bits",
        1,
        on_grid,
        "both candidates are 8-bit images (multiples of 1/255 in [0, 1])"
        if on_grid
        else f"values lie up to {grid:.3f} levels off the 8-bit grid: return quantize_8bit(...) of the attacked "
        "candidate, the image a PNG would store, so that the flips you report survive saving",
    )

    d0, d1 = distances(metric, ref, q0.clamp(0, 1)), distances(metric, ref, q1.clamp(0, 1))
    flipped = ((d1 < d0) != p1_closer).float().mean().item()
    ok = flipped >= FLIP_BAR
    levels = max(int(levels_moved(q0, p0).max()), int(levels_moved(q1, p1).max()))
    why = (
        f"LPIPS changed its decision on {flipped:.0%} of {n} triplets (the bar is {FLIP_BAR:.0%}); largest "
        f"change {levels}/255"
    )
    if levels > allowed_levels(eps):
        ok = False
        why += f", over the budget of {allowed_levels(eps)}/255"
    elif not ok:
        why += (
            ": call your pgd_attack on the closer candidate with the eps and steps given, then compare "
            "d(ref, new p0) and d(ref, new p1)"
        )
    report.add("flips the 2AFC decisions", 1, ok, why)


CHECKS = (check_pgd_attack, check_attack_triplets)


grade = grader("A6 Break the metric", CHECKS)

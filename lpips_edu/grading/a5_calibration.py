"""Checks for assignment 5: calibrate LPIPS's linear heads on 2AFC judgements.

* A5.1 ``Judge``: the network G that turns two distances into the predicted judgement, from
  the five features ``d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)``;
* A5.2 ``ranking_loss``: binary cross-entropy of G's output against ``h``, the fraction of
  people who chose ``p1`` (``calibrate.BCERankingLoss``'s convention);
* A5.3 ``train_heads``: Adam on the heads and G only, the heads clamped to >= 0 after every step;
* A5.4 ``score_heads``: 2AFC agreement with the heads in evaluation mode (no dropout);
* A5.5 the calibrated metric on held-out triplets, against equal weights and the official heads.

The pieces are checked on inputs the grader makes (a reference G, a synthetic cache, a fresh
metric), so that a mistake is named where it is made; the last check measures the student's
trained metric on triplets from photographs it never saw. Several mistakes (``1 - h``, a loss on
the distances) hardly move that score, because G or the loss absorbs them; only the direct checks
can find those, which is why there are both.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..calibrate.benchmark import DEFAULT_VAL_IMAGES, BenchmarkConfig, make_offline_2afc
from ..calibrate.cached import cache_triplets
from ..calibrate.datasets import TwoAFCTensors
from ..calibrate.heads import BCERankingLoss, Dist2LogitLayer
from ..calibrate.scoring import two_afc_agreement
from ..data import sample_names
from ..lpips.linear_heads import head_modules, official_heads_file, read_heads_file
from ..lpips.metric import LPIPS
from ..profiles import Profile, get_profile, seeded
from .attempt import NotReady, call, call_by_name, exercise, grader, lookup, written_answer
from .report import Report

EPS = 0.1  # the judge's eps in d0 / (d1 + eps), as Dist2LogitLayer
# Training and held-out triplets per profile, and the epochs of head training.
SIZES = {
    "smoke": {"train": 48, "heldout": 48, "epochs": 4, "batch_size": 16},
    "cpu": {"train": 384, "heldout": 192, "epochs": 10, "batch_size": 32},
    "gpu": {"train": 4096, "heldout": 1024, "epochs": 10, "batch_size": 50},
}
HELDOUT_SEED = 5  # the grader's held-out triplets: a seed of its own, photographs training never sees
# The trained heads must score at least this close to equal weights on the held-out triplets
# (None: not judged; smoke runs are too small for the difference to mean anything).
MARGIN = {"smoke": None, "cpu": 0.02, "gpu": 0.02}


def _profile(namespace: Mapping) -> Profile:
    p = namespace.get("P")
    return p if isinstance(p, Profile) else get_profile(namespace.get("profile", "auto"))


def sizes(profile: Profile | str = "auto") -> dict:
    """Triplets, epochs and batch size of this assignment under ``profile``."""
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    return dict(SIZES[p.name])


def benchmark_config() -> BenchmarkConfig:
    """The offline triplets of chapter 7 (graded distortions, both candidates shifted a little).

    64 px under every profile: BAPPS's patches, on which the official heads were fitted, are 64 px,
    and the metric's features are computed on the CPU, where 224 px would cost minutes.
    """
    return BenchmarkConfig(image_size=64, nuisance_shift=0.25)


def training_photos() -> list[str]:
    """The photographs training triplets come from: every shipped one but the held-out ones."""
    return [name for name in sample_names() if name not in DEFAULT_VAL_IMAGES]


@lru_cache(maxsize=2)
def _heldout(name: str) -> TwoAFCTensors:
    p = get_profile(name)
    return make_offline_2afc(sizes(p)["heldout"], list(DEFAULT_VAL_IMAGES), HELDOUT_SEED, benchmark_config())


def heldout_triplets(profile: Profile | str = "auto") -> TwoAFCTensors:
    """The grader's held-out triplets: other photographs than training's, a seed of its own."""
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    return _heldout(p.name)


# --------------------------------------------------------------------------- reference pieces


class ReferenceJudge(nn.Module):
    """G as the package builds it (``Dist2LogitLayer``), returning N probabilities; seeded."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with seeded(seed):
            self.g = Dist2LogitLayer()

    def forward(self, d0: torch.Tensor, d1: torch.Tensor) -> torch.Tensor:
        return self.g(d0, d1).reshape(-1)


def reference_loss(judge: ReferenceJudge, d0: torch.Tensor, d1: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``calibrate.BCERankingLoss`` with ``judge``'s network: the loss the exercise asks for."""
    loss = BCERankingLoss()
    loss.net = judge.g
    return loss(d0, d1, h)


def pair_features(d0: torch.Tensor, d1: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """The five features G reads, N x 5, in the paper's order."""
    return torch.stack([d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)], dim=1)


FEATURE_NAMES = ("d0", "d1", "d0 - d1", "d0 / (d1 + eps)", "d1 / (d0 + eps)")


def loss_case() -> dict:
    """Six pairs of distances, soft and hard judgements, and two different G's."""
    d0 = torch.tensor([0.10, 0.50, 0.30, 0.05, 0.80, 0.20])
    d1 = torch.tensor([0.40, 0.20, 0.30, 0.25, 0.10, 0.60])
    h = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.75, 1.0])
    return {"d0": d0, "d1": d1, "h": h, "judges": (ReferenceJudge(0), ReferenceJudge(1))}


def synthetic_cache(channels: list[int], n: int = 96, seed: int = 0) -> dict:
    """A cache like ``cache_triplets``'s (per-channel means ``m0``, ``m1``; ``judge``) with a known answer.

    The judge is 1 where a hidden non-negative weighting makes ``p1`` closer: heads can learn it.
    """
    g = torch.Generator().manual_seed(seed)
    m0 = [torch.rand(n, c, generator=g) / c for c in channels]
    m1 = [torch.rand(n, c, generator=g) / c for c in channels]
    w = [torch.rand(c, generator=g) * (torch.rand(c, generator=g) < 0.5) for c in channels]
    d0 = sum(m @ v for m, v in zip(m0, w))
    d1 = sum(m @ v for m, v in zip(m1, w))
    return {"m0": m0, "m1": m1, "judge": (d1 < d0).float()}


@lru_cache(maxsize=4)
def _fresh_metric(seed: int) -> LPIPS:
    return LPIPS("alex", backbone="random", heads="fresh", seed=seed)


def fresh_metric(seed: int = 0) -> LPIPS:
    """AlexNet LPIPS with random features and fresh heads: what the training check trains.

    A copy of one built per seed: building AlexNet initialises its whole classifier, and the
    checks run twice in a notebook (after the exercise, and in the score).
    """
    return copy.deepcopy(_fresh_metric(seed))


def head_weights(metric: nn.Module) -> list[torch.Tensor]:
    return [conv.weight.detach().reshape(-1) for conv in head_modules(metric).values()]


def cached_scores(cache: dict, weights: list[torch.Tensor] | None) -> np.ndarray:
    """Per-triplet 2AFC agreement of ``d = sum_l w_l . m_l`` (``weights`` None: every channel weighs 1)."""
    with torch.no_grad():
        if weights is None:
            d0, d1 = (sum(m.double().sum(dim=1) for m in cache[k]) for k in ("m0", "m1"))
        else:
            d0, d1 = (sum(m.double() @ w.double() for m, w in zip(cache[k], weights)) for k in ("m0", "m1"))
    return two_afc_agreement(d0.numpy(), d1.numpy(), cache["judge"].numpy())


def official_weights(net: str = "alex") -> list[torch.Tensor]:
    """The paper's heads for ``net``, from the ``lpips`` wheel, one vector per tap."""
    state = read_heads_file(official_heads_file(net))
    return [state[f"lin{i}.model.1.weight"].reshape(-1) for i in range(len(state))]


# --------------------------------------------------------------------------- A5.1


def _first_layer(module: nn.Module) -> nn.Module | None:
    """The first Linear or Conv2d that reads 5 inputs: where G's features go in."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear) and sub.in_features == 5:
            return sub
        if isinstance(sub, nn.Conv2d) and sub.in_channels == 5:
            return sub
    return None


@exercise("A5.1 Judge", points=4)
def check_judge(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "Judge")
    judge = call_by_name(namespace, "Judge")
    if not isinstance(judge, nn.Module):
        raise NotReady(f"Judge() should build an nn.Module, got {type(judge).__name__}")
    case = loss_case()
    d0, d1 = case["d0"], case["d1"]
    first = _first_layer(judge)
    seen: list[torch.Tensor] = []
    hook = first.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach())) if first else None
    try:
        out = call(judge, "Judge.forward", d0.clone(), d1.clone())
    finally:
        if hook is not None:
            hook.remove()
    if not isinstance(out, torch.Tensor):
        raise NotReady(f"judge(d0, d1) should return a tensor, got {type(out).__name__}")
    n = len(d0)
    ok = out.numel() == n and bool(((out > 0) & (out < 1)).all())
    if out.numel() != n:
        why = f"{out.numel()} values for {n} pairs: return one prediction per pair (shape ({n},))"
    elif not ok:
        why = (
            f"values from {out.min():.3g} to {out.max():.3g}: G predicts a fraction of people, so it ends "
            "with a sigmoid (its values lie strictly between 0 and 1)"
        )
    else:
        why = f"{n} pairs -> {n} predictions in (0, 1)"
    report.add("one probability per pair", 1, ok, why)

    if first is None or not seen:
        report.add(
            "the five features of the pair",
            2,
            False,
            "no layer of G reads 5 inputs (an nn.Linear(5, ...) or a 1 x 1 nn.Conv2d(5, ...)): G reads "
            + ", ".join(FEATURE_NAMES),
        )
    else:
        given = seen[0].reshape(seen[0].shape[0], 5, -1)[..., 0].double()  # N x 5 (N x 5 x 1 x 1 for a conv)
        expected = pair_features(d0, d1).double()
        missing = [
            name
            for k, name in enumerate(FEATURE_NAMES)
            if not any(torch.allclose(given[:, j], expected[:, k], rtol=1e-4, atol=1e-6) for j in range(5))
        ]
        if not missing:
            why = "G reads d0, d1, d0 - d1, d0 / (d1 + eps) and d1 / (d0 + eps), eps = 0.1"
        else:
            why = f"no input column of G equals {', '.join(missing)} (eps = {EPS})"
            if any(torch.allclose(given[:, j], d0.double() / d1.double(), rtol=1e-4) for j in range(5)):
                why += "; a ratio without eps divides by zero when a distance is 0: use d0 / (d1 + eps)"
        report.add("the five features of the pair", 2, not missing, why)

    params = [p for p in judge.parameters() if p.requires_grad]
    if not params:
        report.add(
            "G is a trainable network", 1, False, "G has no trainable parameters: build it from nn.Linear layers"
        )
    else:
        judge.zero_grad()
        call(judge, "Judge.forward", d0.clone(), d1.clone()).sum().backward()
        reached = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
        count = sum(p.numel() for p in params)
        report.add(
            "G is a trainable network",
            1,
            reached == len(params),
            f"{count} parameters, every one reached by the gradient"
            if reached == len(params)
            else f"the gradient reaches {reached} of G's {len(params)} parameter tensors: is every layer "
            "used in forward?",
        )
        judge.zero_grad()


# --------------------------------------------------------------------------- A5.2


def _scalar(value) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    return None


SIGN_MISTAKE = (
    "h used with the wrong sign: your loss is the cross-entropy against 1 - h. h is the fraction of "
    "people who chose p1, and G predicts that same fraction: compare G(d0, d1) with h itself"
)
SWAP_MISTAKE = "d0 and d1 are swapped: G(d0, d1) predicts that people chose p1; pass the distances in that order"
SUM_MISTAKE = "the cross-entropy is summed over the pairs: take the mean (the batch size must not set the step size)"
MSE_MISTAKE = "a squared error instead of the cross-entropy: use F.binary_cross_entropy(p, h)"
DISTANCE_MISTAKE = (
    "the loss is computed on the distances, not on G's output: it does not change when G changes. "
    "Compute p = judge(d0, d1), then the binary cross-entropy of p against h"
)


@exercise("A5.2 ranking_loss", points=3)
def check_loss(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "ranking_loss")
    case = loss_case()
    d0, d1, h = case["d0"], case["d1"], case["h"]
    judge, other = case["judges"]
    got = call_by_name(namespace, "ranking_loss", judge, d0.clone(), d1.clone(), h.clone())
    value = _scalar(got)
    if value is None:
        raise NotReady(
            "ranking_loss should return one number (a tensor with one element, the mean over the pairs), "
            f"got {type(got).__name__}" + (f" of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else "")
        )
    with torch.no_grad():
        expected = float(reference_loss(judge, d0, d1, h))
        p = judge(d0, d1)
        variants = {
            SIGN_MISTAKE: float(F.binary_cross_entropy(p, 1 - h)),
            SWAP_MISTAKE: float(F.binary_cross_entropy(judge(d1, d0), h)),
            SUM_MISTAKE: float(F.binary_cross_entropy(p, h, reduction="sum")),
            MSE_MISTAKE: float(F.mse_loss(p, h)),
        }
    other_value = _scalar(call_by_name(namespace, "ranking_loss", other, d0.clone(), d1.clone(), h.clone()))
    ignores_judge = other_value is not None and math.isclose(other_value, value, rel_tol=1e-6, abs_tol=1e-9)
    ok = math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-7)
    if ok:
        why = f"{value:.5f}, equal to calibrate.BCERankingLoss on pairs with soft and hard judgements"
    elif ignores_judge:
        why = DISTANCE_MISTAKE
    else:
        why = f"yours {value:.5g}, BCERankingLoss gives {expected:.5g}"
        named = [text for text, v in variants.items() if math.isclose(value, v, rel_tol=1e-4, abs_tol=1e-7)]
        why += ": " + named[0] if named else ": compute F.binary_cross_entropy(judge(d0, d1), h)"
    report.add("cross-entropy of G against h", 2, ok, why)

    judge.zero_grad()
    loss = call_by_name(namespace, "ranking_loss", judge, d0.clone(), d1.clone(), h.clone())
    reached = False
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        loss.backward()
        reached = all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in judge.parameters())
    judge.zero_grad()
    trains = reached and not ignores_judge
    report.add(
        "the loss trains G",
        1,
        trains,
        "the gradient reaches every parameter of G, so G learns with the heads"
        if trains
        else DISTANCE_MISTAKE
        if ignores_judge or not reached
        else "no gradient reaches G",
    )


# --------------------------------------------------------------------------- A5.3


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> list[str]:
    after = module.state_dict()
    return [k for k, v in before.items() if not torch.equal(v, after[k])]


CLAMP_MISTAKE = (
    "head weights are negative after training: clamp every head after each optimizer.step() "
    "(with torch.no_grad(): w.clamp_(min=0)), so that a distance stays a sum of non-negative terms"
)
BACKBONE_MISTAKE = (
    "training the backbone by accident: only the heads and G learn in this assignment (the paper's "
    "lin variant). Set requires_grad_(True) on the head weights only, not on the whole metric, "
    "and give Adam the head weights and judge.parameters(), not metric.parameters()"
)


def training_run(namespace: Mapping, epochs: int = 4, lr: float = 1e-2, batch_size: int = 32) -> dict:
    """The student's ``train_heads`` on a fresh metric, a reference G and a synthetic cache; what changed."""
    metric = fresh_metric()
    judge = ReferenceJudge(seed=1)
    cache = synthetic_cache(metric.chns)
    before = {
        "backbone": _snapshot(metric.net),
        "heads": [w.clone() for w in head_weights(metric)],
        "judge": _snapshot(judge),
    }
    start = float(cached_scores(cache, before["heads"]).mean())
    losses = call_by_name(
        namespace, "train_heads", metric, judge, cache, epochs=epochs, lr=lr, batch_size=batch_size, seed=0
    )
    return {
        "metric": metric,
        "judge": judge,
        "cache": cache,
        "before": before,
        "losses": losses,
        "start": start,
        "steps": epochs * math.ceil(len(cache["judge"]) / batch_size),
    }


def _loss_list(losses) -> list[float] | None:
    try:
        values = [float(v) for v in losses]
    except (TypeError, ValueError):
        return None
    return values if values and all(math.isfinite(v) for v in values) else None


@exercise("A5.3 train_heads", points=4)
def check_training(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "train_heads")
    loss_fn = lookup(namespace, "ranking_loss")
    try:
        case = loss_case()
        loss_fn(case["judges"][0], case["d0"], case["d1"], case["h"])
    except NotImplementedError:
        raise NotReady(
            "not implemented yet: replace the # YOUR CODE HERE block in `ranking_loss` "
            "(train_heads calls it): finish exercise 2 first"
        ) from None
    except Exception:
        pass  # its own check reports it; train_heads may still run
    run = training_run(namespace)
    metric, judge, before = run["metric"], run["judge"], run["before"]
    values = _loss_list(run["losses"])
    # The clamp alone moves fresh heads (it zeroes their negative weights): learning is more than that.
    heads_moved = any(
        not torch.equal(a, b) and not torch.equal(a.clamp(min=0), b)
        for a, b in zip(before["heads"], head_weights(metric))
    )
    judge_moved = bool(_changed(before["judge"], judge))
    if values is None:
        why = (
            f"train_heads should return the list of losses, one per step, got {type(run['losses']).__name__}"
            " (or values that are not finite)"
        )
    elif not heads_moved:
        why = (
            "the heads did not change (beyond the clamp): make the head weights trainable (w.requires_grad_(True)), "
            "give them to the optimizer, and call loss.backward() and optimizer.step() every step"
        )
    elif not judge_moved:
        why = "G did not change: give judge.parameters() to the optimizer too, G learns with the heads"
    else:
        after = float(cached_scores(run["cache"], head_weights(metric)).mean())
        why = (
            f"on the grader's run (a fresh metric, synthetic triplets): {len(values)} steps (expected "
            f"{run['steps']}), loss {values[0]:.3f} -> {values[-1]:.3f}, heads and G both changed, 2AFC "
            f"{run['start']:.2f} -> {after:.2f}"
        )
    report.add("Adam updates the heads and G", 2, values is not None and heads_moved and judge_moved, why)

    negative = sum(int((w < 0).sum()) for w in head_weights(metric))
    total = sum(w.numel() for w in head_weights(metric))
    report.add(
        "heads stay non-negative",
        1,
        negative == 0,
        f"all {total} head weights are >= 0" if negative == 0 else f"{negative} of {total} {CLAMP_MISTAKE}",
    )

    changed = _changed(before["backbone"], metric.net)
    trainable = [name for name, p in metric.net.named_parameters() if p.requires_grad]
    frozen = not changed and not trainable
    if frozen:
        why = "the backbone's weights are unchanged and none of them requires grad"
    else:
        facts = []
        if changed:
            facts.append(f"{len(changed)} backbone tensors changed ({changed[0]}, ...)")
        if trainable:
            facts.append(f"{len(trainable)} backbone parameters require grad ({trainable[0]}, ...)")
        why = "; ".join(facts) + ": " + BACKBONE_MISTAKE
    report.add("the backbone stays frozen", 1, frozen, why)


# --------------------------------------------------------------------------- A5.4


EVAL_MISTAKE = (
    "no eval() when scoring: the heads' dropout is still active, so the scores are random (they {what}). "
    "Call metric.eval() in score_heads before computing the distances"
)


@exercise("A5.4 score_heads", points=3)
def check_scoring(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "score_heads")
    metric = fresh_metric(seed=2)
    cache = synthetic_cache(metric.chns, seed=3)
    with torch.no_grad():
        for conv in head_modules(metric).values():
            conv.weight.abs_()  # trained-looking heads: non-negative
    metric.lins.train()  # as training leaves them: dropout on
    expected = float(cached_scores(cache, head_weights(metric)).mean())
    first = call_by_name(namespace, "score_heads", metric, cache)
    still_training = any(lin.training for lin in metric.lins)
    metric.lins.train()
    second = call_by_name(namespace, "score_heads", metric, cache)
    value, again = _number(first), _number(second)
    if value is None:
        raise NotReady(f"score_heads should return the 2AFC score, one number in [0, 1], got {type(first).__name__}")
    varies = again is None or not math.isclose(value, again, rel_tol=0, abs_tol=1e-12)

    ok = math.isclose(value, expected, abs_tol=1e-6)
    if ok:
        why = (
            f"{value:.4f} on the grader's synthetic triplets, the 2AFC agreement of its heads "
            "(calibrate.two_afc_agreement, averaged)"
        )
    elif varies or still_training:
        why = f"yours {value:.4f}, expected {expected:.4f}: " + EVAL_MISTAKE.format(
            what=f"differ from call to call: {value:.4f}, then {again:.4f}" if varies else "change with dropout"
        )
    elif math.isclose(value, 1 - expected, abs_tol=1e-6):
        why = (
            f"yours {value:.4f}, expected {expected:.4f}: the metric picks the candidate with the smaller distance "
            "and is credited 1 - h when d0 < d1 (p0 chosen), h when d1 < d0"
        )
    else:
        why = (
            f"yours {value:.4f}, expected {expected:.4f}: average calibrate.two_afc_agreement(d0, d1, h) over the "
            "triplets, with d0 and d1 from the heads in eval mode"
        )
    report.add("the 2AFC score of the heads", 2, ok, why)

    deterministic = not still_training and not varies
    report.add(
        "scored in evaluation mode",
        1,
        deterministic,
        "the heads are in eval mode while scoring (no dropout): the same score on every call"
        if deterministic
        else EVAL_MISTAKE.format(
            what=f"differ from call to call: {value:.4f}, then {again:.4f}"
            if varies
            else "depend on dropout; metric.lins[0].training was True after the call"
        ),
    )


def _number(value) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value.detach())
    if isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and 0 <= float(value) <= 1:
        return float(value)
    return None


# --------------------------------------------------------------------------- A5.5


# (triplets, backbone fingerprint, features): the triplets are held, so no other object can take their id.
_FEATURES: list[tuple[TwoAFCTensors, tuple, dict]] = []


def _backbone_fingerprint(metric: LPIPS) -> tuple:
    with torch.no_grad():
        return (metric.pnet_type, *(float(p.double().sum()) for p in metric.net.parameters()))


def heldout_features(metric: LPIPS, data: TwoAFCTensors) -> dict:
    """``cache_triplets(metric, data)``, computed once per set of triplets and backbone state.

    The held-out check runs twice in a notebook; the backbone pass is most of its cost, and the
    heads being graded do not enter it.
    """
    fingerprint = _backbone_fingerprint(metric)
    for held, stored, features in _FEATURES:
        if held is data and stored == fingerprint:
            return features
    features = cache_triplets(metric, data)
    del _FEATURES[:-3]  # keep the last few
    _FEATURES.append((data, fingerprint, features))
    return features


def heldout_comparison(metric: LPIPS, data: TwoAFCTensors) -> dict[str, float]:
    """2AFC on ``data`` of the metric's heads, of equal weights and of the official heads (one backbone pass)."""
    cache = heldout_features(metric, data)
    return {
        "trained": float(cached_scores(cache, head_weights(metric)).mean()),
        "equal weights": float(cached_scores(cache, None).mean()),
        "official heads": float(cached_scores(cache, official_weights(metric.pnet_type)).mean()),
        "triplets": len(data),
    }


@exercise("A5.5 the calibrated metric on held-out triplets", points=3)
def check_heldout(namespace: Mapping, report: Report) -> None:
    P = _profile(namespace)
    lookup(namespace, "losses", "run the training cell (losses = train_heads(...)) of exercise 3")
    metric = lookup(namespace, "metric", "run the cell that builds the metric")
    if not isinstance(metric, LPIPS) or metric.pnet_type != "alex":
        raise NotReady("`metric` should be the lpips_edu.LPIPS('alex', ...) whose heads you trained")
    observers = namespace.get("observer_dir")
    if observers:
        data = lookup(namespace, "heldout_set", "run the cell that splits the class's triplets")
        margin, where = None, f"{len(data)} of your class's triplets held out from training"
    else:
        data, margin = heldout_triplets(P), MARGIN[P.name]
        where = f"{len(data)} held-out triplets from {', '.join(DEFAULT_VAL_IMAGES)} (photos training never saw)"
    if observers:  # people disagree: no metric can agree with more than the majority, mean max(h, 1 - h)
        h = data.judge.reshape(-1).double()
        ceiling = float(torch.maximum(h, 1 - h).mean())
        context = f"chance 0.5; the people's own ceiling, mean of max(h, 1 - h), is {ceiling:.3f}"
    else:
        context = "chance 0.5; these labels are set by construction, so the ceiling is 1"
    scores = heldout_comparison(metric, data)
    trained, equal, official = scores["trained"], scores["equal weights"], scores["official heads"]
    numbers = (
        f"2AFC on {where}: your heads {trained:.3f}, equal weights {equal:.3f}, official heads "
        f"{official:.3f} ({context})"
    )
    if margin is None:
        reason = (
            "a class's judgements are too few to set a bar"
            if observers
            else f"the {P.name} profile trains too little for the difference to mean anything"
        )
        report.add(
            "at least as good as equal weights",
            3,
            True,
            f"{numbers}; not judged: {reason} (the cpu profile asks for equal weights - {MARGIN['cpu']:.2f})",
        )
        return
    bar = equal - margin
    ok = trained >= bar
    why = f"{numbers}; the bar is equal weights - {margin:.2f} = {bar:.3f}"
    if not ok:
        negative = sum(int((w < 0).sum()) for w in head_weights(metric))
        if negative:
            why += f": {negative} {CLAMP_MISTAKE}"
        else:
            why += (
                ": your heads rank the held-out triplets worse than no calibration at all; check that "
                "train_heads runs every epoch and that the loss falls"
            )
    report.add("at least as good as equal weights", 3, ok, why)


QUESTION = (
    "your heads, equal weights and the official heads on the held-out triplets: which wins, and why "
    "might heads fitted to BAPPS's people lose here, on triplets whose answers were set by construction?"
)

check_answer = written_answer("A5.6 written answer", 2, QUESTION)


CHECKS = (check_judge, check_loss, check_training, check_scoring, check_heldout, check_answer)


grade = grader("A5 Calibrate the heads", CHECKS)

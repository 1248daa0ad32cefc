"""Judgements scored against the metrics' answers: 2AFC scores, the ceiling, two observers' agreement.

Three numbers frame the metrics' 2AFC scores (``scoring.two_afc_agreement``,
the chapter-7 definition, ties count half):

* ``ceiling``: the mean of ``max(h, 1 - h)``, what a metric that always picks the
  majority's answer would score. No metric can score more against these ``h``;
  for one observer it is 1.
* ``observer_agreement``: how often two different observers, drawn at random,
  agree on a triplet, ``(k(k-1) + (n-k)(n-k-1)) / (n(n-1))`` for ``k`` of ``n``
  choosing p1, averaged over the triplets with two or more observers. It is
  what one person scores when graded, like a metric, against another; a metric
  can beat it (the majority's answer does), but not the ceiling.
* bootstrap intervals (``scoring.bootstrap_ci``) resample triplets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibrate.scoring import bootstrap_ci, two_afc_agreement
from .answers import AnsweredSet


@dataclass(frozen=True)
class Score:
    """A 2AFC-style score over the answered triplets with its 95% bootstrap interval."""

    name: str
    score: float
    low: float
    high: float
    triplets: int


def _score(name: str, per_triplet: np.ndarray, n_resamples: int, seed: int) -> Score:
    low, high = bootstrap_ci(per_triplet, n_resamples=n_resamples, seed=seed)
    return Score(name, float(per_triplet.mean()), low, high, int(per_triplet.size))


def score_metrics(judgements, answered: AnsweredSet, n_resamples: int = 2000, seed: int = 0) -> list[Score]:
    """Every metric's 2AFC score against the judgements' ``h``, best first (``Score.name`` is the label)."""
    if judgements.set_version != answered.version or tuple(judgements.ids) != tuple(answered.ids):
        raise ValueError(f"judgements for set {judgements.set_version}, answers for set {answered.version}")
    keep, h = judgements.answered, judgements.h
    rows = [_score(m.label, two_afc_agreement(m.d0[keep], m.d1[keep], h[keep]), n_resamples, seed)
            for m in answered.metrics.values()]
    return sorted(rows, key=lambda r: -r.score)


def ceiling(judgements, n_resamples: int = 2000, seed: int = 0) -> Score:
    """The best score any metric can reach against these judgements: the mean of ``max(h, 1 - h)``."""
    h = judgements.h[judgements.answered]
    return _score("ceiling (the majority's answer)", np.maximum(h, 1 - h), n_resamples, seed)


def observer_agreement(judgements, n_resamples: int = 2000, seed: int = 0) -> Score | None:
    """How often two observers drawn at random agree, over triplets with two or more observers (else None)."""
    n = judgements.counts.astype(np.float64)
    k = np.nansum(judgements.choices, axis=0)
    keep = n >= 2
    if not keep.any():
        return None
    n, k = n[keep], k[keep]
    per_triplet = (k * (k - 1) + (n - k) * (n - k - 1)) / (n * (n - 1))
    return _score("two observers agree", per_triplet, n_resamples, seed)


def score_report(judgements, answered, n_resamples: int = 2000, seed: int = 0) -> str:
    """The table ``observers score`` prints: metrics, the ceiling and the observers' agreement."""
    counts = judgements.counts[judgements.answered]
    simulated = sum(judgements.simulated)
    lines = [f"{len(judgements.files)} observer file(s)" + (f", {simulated} of them simulated" if simulated else "")
             + f"; {counts.size} of {len(judgements.ids)} triplets answered, by {counts.min()} to {counts.max()}"
             f" observers each (set version {judgements.set_version})",
             f"metrics' answers: {answered.source}"]
    lines += [f"left out (a repeated submission): {path}" for path in judgements.skipped_duplicates]
    lines += ["", f"{'':34s} {'2AFC':>6s}  {'95% interval':>13s}  triplets"]

    def row(score) -> str:
        return f"{score.name:34s} {score.score:6.3f}  {score.low:.3f} - {score.high:.3f}  {score.triplets:8d}"

    lines += [row(s) for s in score_metrics(judgements, answered, n_resamples, seed)]
    lines.append(row(ceiling(judgements, n_resamples, seed)) + "  (no metric can score more)")
    agreement = observer_agreement(judgements, n_resamples, seed)
    lines.append(row(agreement) if agreement else f"{'two observers agree':34s} (needs two observers of a triplet)")
    lines += ["", "weights:"] + [f"  {m.label}: {m.description}" for m in answered.metrics.values()]
    return "\n".join(lines)

"""The metrics' answers on the observer set, the set's JSON file, and judgements scored against them.

Each metric "answers" a triplet with its two distances ``d0 = d(ref, p0)`` and
``d1 = d(ref, p1)``: it picks the smaller. The page embeds these numbers (L2,
SSIM, LPIPS on AlexNet, VGG-16 and the SqueezeNet this book trained), so a
reader's agreement with every metric is computed in the browser, and
``set.json`` records them with the triplets and the set's version.

Scoring a class uses the numbers the page showed when its ``set.json`` is given
(``load_set_json``): LPIPS on a book-trained SqueezeNet depends on the build
that trained it. Without it, ``answered_set()`` rebuilds the set from the
package and asks the metrics on this machine (``resolve_backbone`` says which
weights, and the description travels with each metric).

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

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models.registry import LPIPS_NETS
from . import judgements as judgement_files
from .baselines import dssim_distance, l2_distance
from .observer_set import IMAGE_SIZE, SET_NAME, ObserverSet
from .scoring import bootstrap_ci, two_afc_agreement, two_afc_distances

METRICS = ("L2", "SSIM", "LPIPS alex", "LPIPS vgg", "LPIPS squeeze")
FEATURED = "LPIPS alex"  # the metric whose disagreements with the reader the page shows
SET_FORMAT = "lpips-edu/observer-set"
SET_FORMAT_VERSION = 1
KIND_LABELS = {"imagenet": "ImageNet", "book": "book-trained", "random": "random weights"}


@dataclass(frozen=True)
class MetricAnswers:
    """One metric's distances on every triplet of the set, and what it is made of."""

    name: str
    label: str  # for tables: "LPIPS squeeze (book-trained)"
    description: str  # which weights, in a sentence
    weights: str | None  # "imagenet", "book", "random"; None for L2 and SSIM
    d0: np.ndarray
    d1: np.ndarray

    def picks(self) -> np.ndarray:
        """1 where the metric picks p1 (``d1 < d0``), 0 where it picks p0, 0.5 on a tie."""
        return np.where(self.d1 < self.d0, 1.0, np.where(self.d0 < self.d1, 0.0, 0.5))


@dataclass(frozen=True)
class AnsweredSet:
    """What scoring needs: the set's version, its triplet ids and the metrics' answers."""

    version: str
    ids: tuple[str, ...]
    metrics: dict[str, MetricAnswers]
    source: str  # where the answers come from, for the report


def _distance(name: str, seed: int):
    """``(distance function, label, description, weights kind)`` for a metric of ``METRICS``."""
    if name == "L2":
        return l2_distance, "L2", "mean squared difference of the RGB pixels", None
    if name == "SSIM":
        return dssim_distance, "SSIM", "structural similarity (scikit-image) as the distance (1 - SSIM) / 2", None
    if not name.startswith("LPIPS ") or name.split()[1] not in LPIPS_NETS:
        raise ValueError(f"unknown metric {name!r}; choose from {METRICS}")
    from ..backbones import available_weights
    from .backbones import make_metric

    net = name.split()[1]
    kind = available_weights(net)[0]  # the best kind present, as resolve_backbone(net) would pick
    metric, description = make_metric(net, kind, heads="official", seed=seed)
    return (lambda a, b: metric(a, b, normalize=True)), f"{name} ({KIND_LABELS[kind]})", description, kind


def metric_answers(observer_set: ObserverSet, names=METRICS, seed: int = 0) -> dict[str, MetricAnswers]:
    """Every named metric's ``d0`` and ``d1`` on the set's (8-bit) images."""
    data = observer_set.as_2afc(torch.zeros(len(observer_set.triplets)))
    out = {}
    for name in names:
        distance, label, description, weights = _distance(name, seed)
        d = two_afc_distances(data, distance)
        out[name] = MetricAnswers(name, label, description, weights, d["d0s"], d["d1s"])
    return out


def answered_set(observer_set: ObserverSet | None = None, names=METRICS, seed: int = 0) -> AnsweredSet:
    """The set rebuilt from the package, answered by the metrics on this machine."""
    from .observer_set import observer_set as book_set

    observer_set = observer_set or book_set()
    return AnsweredSet(observer_set.version, tuple(observer_set.ids), metric_answers(observer_set, names, seed),
                       "the set rebuilt from lpips_edu, metrics computed on this machine")


def set_json(observer_set: ObserverSet, metrics: dict[str, MetricAnswers], files: list[dict]) -> dict:
    """The page's description of the set: triplets, their image files, the metrics' answers."""
    triplets = []
    for t, names in zip(observer_set.triplets, files):
        p0, p1 = observer_set.candidates(t)
        triplets.append({"id": t["id"], "photo": t["photo"], "p0": p0, "p1": p1, "files": names})
    return {
        "format": SET_FORMAT, "format_version": SET_FORMAT_VERSION, "set": SET_NAME,
        "version": observer_set.version, "image_size": IMAGE_SIZE, "featured": FEATURED,
        "judgement_format": {"format": judgement_files.FORMAT, "format_version": judgement_files.FORMAT_VERSION},
        "triplets": triplets,
        "metrics": [{"name": m.name, "label": m.label, "description": m.description, "weights": m.weights,
                     "d0": [float(x) for x in m.d0], "d1": [float(x) for x in m.d1]} for m in metrics.values()],
    }


def load_set_json(path: str | os.PathLike) -> AnsweredSet:
    """A ``set.json`` written by the page (``_build/html/_static/observer/set.json`` in a built book)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; a built book has it at _build/html/_static/observer/set.json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != SET_FORMAT:
        raise ValueError(f"{path} is not the set.json of the 'Be the observer' page (no \"format\": \"{SET_FORMAT}\")")
    if record.get("format_version") != SET_FORMAT_VERSION:
        raise ValueError(f"{path} has set format version {record.get('format_version')!r}; "
                         f"this lpips_edu reads version {SET_FORMAT_VERSION}")
    ids = tuple(t["id"] for t in record["triplets"])
    metrics = {m["name"]: MetricAnswers(m["name"], m["label"], m["description"], m["weights"],
                                        np.asarray(m["d0"], dtype=np.float64), np.asarray(m["d1"], dtype=np.float64))
               for m in record["metrics"]}
    return AnsweredSet(record["version"], ids, metrics, f"the answers the page showed ({path})")


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

"""The metrics' answers on the observer set, and the set's JSON file that the page reads.

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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..calibrate.baselines import dssim_distance, l2_distance
from ..calibrate.scoring import two_afc_distances
from ..models.registry import LPIPS_NETS
from . import judgements as judgement_files
from .observer_set import IMAGE_SIZE, SET_NAME, ObserverSet

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
    from ..lpips.metric import LPIPS

    metric = LPIPS(name.split()[1], backbone="best", heads="official", seed=seed)  # the best backbone present
    kind = metric.backbone_weights
    return (lambda a, b: metric(a, b, normalize=True)), f"{name} ({KIND_LABELS[kind]})", \
        metric.weights_description, kind


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

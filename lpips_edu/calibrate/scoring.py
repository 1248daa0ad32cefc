"""Scoring a distance against human judgements, exactly as the lpips package does (and one fix).

2AFC: for a triplet with distances ``d0 = d(ref, p0)``, ``d1 = d(ref, p1)`` and
human judgement ``h`` (the fraction of people who chose ``p1``), the metric
"chooses" the closer patch and agrees with a fraction of the people:

    score = [d0 < d1] (1 - h) + [d1 < d0] h + [d0 == d1] / 2

The 2AFC score is the mean over triplets; humans themselves reach about 0.74
on BAPPS's validation sets, so a perfect metric scores that, not 1.

JND: sort the pairs by distance, smallest first. A good metric puts the pairs
people called "same" first. Treat ``same`` as a soft label, accumulate true
and false positives down the sorted list, and take the area under the
precision-recall curve (VOC average precision) as the score.

The fix: the package's ``score_jnd_dataset`` collects LPIPS outputs of shape
N x 1 x 1 x 1 without flattening them, so ``np.argsort`` sorts along a
length-1 axis and every "sorted" index is 0: the score then depends only on
the first pair. We flatten every distance to one number per item and check
the count, so a distance of any shape works and a wrong count is an error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

Distance = Callable[[torch.Tensor, torch.Tensor], "torch.Tensor | np.ndarray"]


def as_distances(d, n: int, what: str = "distance") -> np.ndarray:
    """Any N-element result (N, N x 1, N x 1 x 1 x 1, tensor or array) as a flat float64 array."""
    if isinstance(d, torch.Tensor):
        d = d.detach().float().cpu().numpy()
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if d.size != n:
        raise ValueError(f"{what} returned {d.size} values for a batch of {n}; it must return one distance per pair")
    return d


def _loader(data, batch_size: int) -> DataLoader | list:
    return DataLoader(data, batch_size=batch_size, shuffle=False) if isinstance(data, Dataset) else data


@torch.no_grad()
def two_afc_distances(data, distance: Distance, batch_size: int = 64, progress: bool = False) -> dict[str, np.ndarray]:
    """``d0s``, ``d1s`` and ``gts`` (the judgements) for every triplet of a dataset or an iterable of batches."""
    from ..progress import progress_bar

    d0s, d1s, gts = [], [], []
    for batch in progress_bar(_loader(data, batch_size), desc="2AFC", disable=not progress, leave=False):
        n = batch["ref"].shape[0]
        d0s.append(as_distances(distance(batch["ref"], batch["p0"]), n))
        d1s.append(as_distances(distance(batch["ref"], batch["p1"]), n))
        gts.append(as_distances(batch["judge"], n, "judge"))
    return {"d0s": np.concatenate(d0s), "d1s": np.concatenate(d1s), "gts": np.concatenate(gts)}


def two_afc_agreement(d0s: np.ndarray, d1s: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """Per-triplet agreement with the people (ties count half), as ``lpips.score_2afc_dataset``."""
    d0s, d1s, gts = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (d0s, d1s, gts))
    return (d0s < d1s) * (1.0 - gts) + (d1s < d0s) * gts + (d1s == d0s) * 0.5


def score_2afc(data, distance: Distance, batch_size: int = 64, progress: bool = False) -> tuple[float, dict]:
    """2AFC score in [0, 1] and the per-triplet details (``d0s, d1s, gts, scores``)."""
    out = two_afc_distances(data, distance, batch_size, progress)
    out["scores"] = two_afc_agreement(out["d0s"], out["d1s"], out["gts"])
    return float(out["scores"].mean()), out


def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """Area under the precision-recall curve, PASCAL VOC style (precision made monotone first)."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the envelope: best precision at this recall or beyond
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def jnd_precision_recall(ds: np.ndarray, sames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of "same" going down the pairs sorted by distance, smallest first."""
    ds = np.asarray(ds, dtype=np.float64).reshape(-1)  # the flatten the package forgets
    sames = np.asarray(sames, dtype=np.float64).reshape(-1)
    if ds.shape != sames.shape:
        raise ValueError(f"{ds.size} distances but {sames.size} judgements")
    order = np.argsort(ds)
    sorted_sames = sames[order]
    tps = np.cumsum(sorted_sames)
    fps = np.cumsum(1.0 - sorted_sames)
    fns = np.sum(sorted_sames) - tps
    return tps / (tps + fps), tps / (tps + fns)


def jnd_map(ds: np.ndarray, sames: np.ndarray) -> float:
    """JND score: mean average precision of finding the "same" pairs by small distance."""
    precision, recall = jnd_precision_recall(ds, sames)
    return voc_ap(recall, precision)


@torch.no_grad()
def score_jnd(data, distance: Distance, batch_size: int = 64, progress: bool = False) -> tuple[float, dict]:
    """JND mAP in [0, 1] and the details (``ds, sames``) for a dataset or an iterable of batches."""
    from ..progress import progress_bar

    ds, sames = [], []
    for batch in progress_bar(_loader(data, batch_size), desc="JND", disable=not progress, leave=False):
        n = batch["p0"].shape[0]
        ds.append(as_distances(distance(batch["p0"], batch["p1"]), n))
        sames.append(as_distances(batch["same"], n, "same"))
    ds, sames = np.concatenate(ds), np.concatenate(sames)
    return jnd_map(ds, sames), {"ds": ds, "sames": sames}


def bootstrap_ci(
    scores: np.ndarray, n_resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of per-item scores (resampling items)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, scores.size, size=(n_resamples, scores.size))].mean(axis=1)
    alpha = (1.0 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_bootstrap_difference(
    scores_a: np.ndarray, scores_b: np.ndarray, n_resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``a - b`` over the same triplets and its bootstrap interval: is metric a really better than b?"""
    diff = np.asarray(scores_a, dtype=np.float64) - np.asarray(scores_b, dtype=np.float64)
    lo, hi = bootstrap_ci(diff, n_resamples, level, seed)
    return float(diff.mean()), lo, hi

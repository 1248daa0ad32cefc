"""How each network's LPIPS *behaves*: sensitivity to distortions, agreement between metrics, 2AFC proxy.

* ``distortion_sweep``: distance versus strength for every distortion of
  ``lpips_edu.data.distortions``, per network and per tap, with L2, PSNR and SSIM
  (scikit-image) on the same image pairs;
* ``rank_agreement``: Spearman and Kendall correlation between every two
  metrics over all (image, distortion, strength) items: do two networks
  order the same distortions the same way?
* ``weights_effect``: what ImageNet training buys one network's LPIPS: the
  same swept items ranked with each kind of weights present (ImageNet,
  book-trained, random), and the 2AFC proxies with each;
* ``two_afc_table``: the offline 2AFC proxy (``lpips_edu.calibrate``) with a
  bootstrap confidence interval, scored exactly as the calibration chapter does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..calibrate import BenchmarkConfig, bootstrap_ci, make_offline_2afc, score_2afc
from ..calibrate.baselines import l2_distance, psnr, ssim
from ..data import sample_names
from ..data.distortions import distort, distortion_names
from ..models.backbones import available_weights
from ..progress import progress_bar
from .config import AnalysisConfig
from .metrics import device_of, make_lpips

# Classic metrics on [0, 1] images; "higher = more similar" ones are flagged so correlations use distances.
BASELINES = {"L2": (l2_distance, False), "PSNR": (psnr, True), "SSIM": (ssim, True)}


def sweep_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` random square crops (in [0, 1]) of the shipped photographs, the same benchmark crops as chapter 7."""
    return make_offline_2afc(n, sample_names(), seed, BenchmarkConfig(image_size=size, distortions=("blur",))).ref


@torch.no_grad()
def distortion_sweep(config: AnalysisConfig, progress: bool = True) -> pd.DataFrame:
    """Long table: metric, layer ("total" or a tap), distortion, strength, image, value, device."""
    images = sweep_images(config.sweep_images, config.image_size, config.seed)
    lpips_metrics = {name: make_lpips(name, config.seed) for name in config.models}
    rows = []
    jobs = [(d, s) for d in distortion_names() for s in config.strengths]
    for d, s in progress_bar(jobs, desc="distortion sweep", disable=not progress):
        distorted = distort(d, images, s, seed=config.seed)
        for name, metric in lpips_metrics.items():
            total, layers = metric(images, distorted, retPerLayer=True, normalize=True)
            taps = list(metric.net.lpips_taps)
            where = device_of(metric)
            for layer, values in [("total", total)] + list(zip(taps, layers)):
                for i, v in enumerate(values.flatten().tolist()):
                    rows.append((name, layer, d, s, i, v, where))
        for base, (fn, _) in BASELINES.items():
            values = fn(images, distorted).flatten().tolist()
            rows.extend((base, "total", d, s, i, v, "cpu") for i, v in enumerate(values))  # numpy / scikit-image
    return pd.DataFrame(rows, columns=["metric", "layer", "distortion", "strength", "image", "value", "device"])


def _as_distances(sweep: pd.DataFrame) -> pd.DataFrame:
    """items x metrics, with similarities (PSNR, SSIM) negated so that larger = more different everywhere."""
    totals = sweep[sweep["layer"] == "total"]
    wide = totals.pivot_table(index=["distortion", "strength", "image"], columns="metric", values="value")
    for base, (_, similarity) in BASELINES.items():
        if base in wide and similarity:
            wide[base] = -wide[base].replace(np.inf, np.nan).fillna(wide[base][np.isfinite(wide[base])].max() * 2)
    return wide


def rank_agreement(sweep: pd.DataFrame, method: str = "spearman", strength_min: float = 0.0) -> pd.DataFrame:
    """Rank correlation (``spearman`` or ``kendall``) between every two metrics over all swept items.

    Undistorted items (strength 0) are left out by default when ``strength_min > 0``;
    PSNR of identical images is infinite and is ranked as the most similar.
    """
    if method not in ("spearman", "kendall"):
        raise ValueError(f"method must be 'spearman' or 'kendall', got {method!r}")
    wide = _as_distances(sweep[sweep["strength"] >= strength_min])
    return wide.corr(method=method)


def two_afc_table(config: AnalysisConfig, progress: bool = True) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Offline 2AFC proxy score and 95% bootstrap interval of every network (and L2 / SSIM).

    Returns the table and the per-triplet scores (for paired comparisons).
    """
    data = make_offline_2afc(config.two_afc_triplets, sample_names(), config.seed + 1,
                             BenchmarkConfig(image_size=config.image_size))
    metrics = {name: make_lpips(name, config.seed) for name in config.models}
    distances = {name: (lambda a, b, m=metric: m(a, b, normalize=True)) for name, metric in metrics.items()}
    distances["L2"] = l2_distance
    distances["SSIM"] = lambda a, b: -ssim(a, b)
    rows, per_triplet = [], {}
    for name, fn in progress_bar(distances.items(), desc="2AFC", disable=not progress):
        score, details = score_2afc(data, fn, batch_size=64)
        lo, hi = bootstrap_ci(details["scores"], seed=config.seed)
        per_triplet[name] = details["scores"]
        rows.append({"metric": name, "two_afc": score, "ci_low": lo, "ci_high": hi, "triplets": len(details["scores"]),
                     "device": device_of(metrics[name]) if name in metrics else "cpu"})
    return pd.DataFrame(rows).set_index("metric"), per_triplet


@torch.no_grad()
def weights_effect(config: AnalysisConfig, name: str = "alexnet", progress: bool = True) -> pd.DataFrame:
    """One row per kind of weights present for ``name``: rank agreement with the first kind and with L2, 2AFC.

    The items are the distortion sweep's (every distortion at every strength of
    ``config`` on the same crops); the 2AFC columns are the graded proxy of
    ``two_afc_table`` and the pixel trap of chapter 7 (``task="pixel-trap"``).
    """
    kinds = available_weights(name)
    images = sweep_images(config.sweep_images, config.image_size, config.seed)
    graded = make_offline_2afc(config.two_afc_triplets, sample_names(), config.seed + 1,
                               BenchmarkConfig(image_size=config.image_size))
    trap = make_offline_2afc(config.two_afc_triplets, sample_names(), config.seed + 2,
                             BenchmarkConfig(image_size=config.image_size, task="pixel-trap"))
    columns: dict[str, list[float]] = {kind: [] for kind in kinds}
    columns["L2"] = []
    metrics = {kind: make_lpips(name, config.seed, weights=kind) for kind in kinds}
    for d in progress_bar(distortion_names(), desc=f"{name} weights", disable=not progress):
        for s in config.strengths:
            distorted = distort(d, images, s, seed=config.seed)
            for kind, metric in metrics.items():
                columns[kind] += metric(images, distorted, normalize=True).flatten().tolist()
            columns["L2"] += l2_distance(images, distorted).flatten().tolist()
    items = pd.DataFrame(columns)
    rows = []
    for kind, metric in metrics.items():
        distance = lambda a, b, m=metric: m(a, b, normalize=True)  # noqa: E731
        rows.append({
            "weights": kind,
            f"spearman_with_{kinds[0]}": items[kind].corr(items[kinds[0]], method="spearman"),
            f"kendall_with_{kinds[0]}": items[kind].corr(items[kinds[0]], method="kendall"),
            "spearman_with_L2": items[kind].corr(items["L2"], method="spearman"),
            "two_afc_graded": score_2afc(graded, distance)[0],
            "two_afc_pixel_trap": score_2afc(trap, distance)[0],
            "device": device_of(metric),
        })
    return pd.DataFrame(rows).set_index("weights")

"""Latency and throughput versus batch size and resolution, on the backbone and on LPIPS.

Two things are timed for every network:

* ``features``: the backbone up to its deepest LPIPS tap (what LPIPS pays per image);
* ``lpips``: a full LPIPS distance between N pairs (both images through the backbone,
  normalisation, heads), i.e. what a user of the metric waits for.

Points are a batch sweep at the analysis image size and a resolution sweep at
batch 1. Every point is a ``timing.time_call`` (warm-up, repeated measurements,
median and interquartile range).
"""

from __future__ import annotations

import pandas as pd
import torch

from ..progress import progress_bar
from .config import AnalysisConfig
from .metrics import make_lpips
from .timing import time_calls

MODES = ("features", "lpips")


def sweep_points(config: AnalysisConfig) -> list[tuple[int, int]]:
    """(batch, image size) pairs: batches at ``image_size``, sizes at batch 1, no duplicates."""
    points = [(b, config.image_size) for b in config.batch_sizes] + [(1, s) for s in config.resolutions]
    return list(dict.fromkeys(points))


def random_pairs(batch: int, size: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches of images in [-1, 1] (timings do not depend on the pixel values)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    return a.to(device), b.to(device)


def _call(metric, mode: str, a: torch.Tensor, b: torch.Tensor):
    if mode == "features":
        x = a.contiguous(memory_format=torch.channels_last)

        def fn():
            with torch.inference_mode():
                return metric.net.forward_features(x)
    else:

        def fn():
            return metric(a, b)
    return fn


def speed_table(config: AnalysisConfig, device: torch.device | str = "cpu", progress: bool = True) -> pd.DataFrame:
    """One row per (model, mode, batch, size): median / quartile latency and throughput.

    At every point the networks are timed interleaved (``timing.time_calls``), so a burst of load
    on a shared machine does not favour one of them.
    """
    device = torch.device(device)
    metrics = {name: make_lpips(name, config.seed).to(device) for name in config.models}
    jobs = [(mode, b, s) for mode in MODES for b, s in sweep_points(config)]
    rows = []
    for mode, batch, size in progress_bar(jobs, desc="speed", disable=not progress):
        a, b = random_pairs(batch, size, device, config.seed)
        fns = {name: _call(metric, mode, a, b) for name, metric in metrics.items()}
        timings = time_calls(fns, config.repeats, config.warmup, config.min_block_s)
        for name, t in timings.items():
            rows.append({
                "model": name, "mode": mode, "batch": batch, "size": size,
                "median_ms": 1e3 * t.median_s, "q25_ms": 1e3 * t.q25_s, "q75_ms": 1e3 * t.q75_s,
                "ms_per_item": 1e3 * t.median_s / batch, "items_per_s": batch / t.median_s,
                "repeats": t.repeats, "threads": torch.get_num_threads(), "device": device.type,
            })
    return pd.DataFrame(rows)

"""Timing a call honestly: warm-up, repeated measurements, median and spread.

``torch.utils.benchmark.Timer`` does the clock work (it synchronises CUDA and
fixes the thread count); we add an explicit warm-up (first calls pay for
allocation and kernel selection) and keep every measurement, so the tables
can report the median with its interquartile range instead of one lucky run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils import benchmark


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and the 25th / 75th percentiles of ``repeats`` measurements."""

    median_s: float
    q25_s: float
    q75_s: float
    repeats: int
    calls_per_repeat: int


def _summary(times: list[float], number: int) -> Timing:
    q25, median, q75 = np.quantile(times, [0.25, 0.5, 0.75])
    return Timing(float(median), float(q25), float(q75), len(times), number)


def time_calls(fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2, min_block_s: float = 0.02,
               threads: int | None = None) -> dict[str, Timing]:
    """Time several alternatives *interleaved*: one measurement of each in turn, ``repeats`` rounds.

    On a shared machine the load changes over seconds; timing A fully and
    then B would charge a burst of load to one of them. Round-robin spreads
    it over all, so their ratio (a speedup) is fairer than either number.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    timers, numbers = {}, {}
    for key, fn in fns.items():
        for _ in range(warmup):
            fn()
        timers[key] = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads or torch.get_num_threads())
        numbers[key] = 1
        if min_block_s > 0:
            numbers[key] = max(1, int(np.ceil(min_block_s / max(timers[key].timeit(1).mean, 1e-9))))
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key in fns:
            times[key].append(timers[key].timeit(numbers[key]).mean)
    return {key: _summary(times[key], numbers[key]) for key in fns}


def time_call(fn: Callable[[], object], repeats: int = 10, warmup: int = 2, min_block_s: float = 0.02,
              threads: int | None = None) -> Timing:
    """Time ``fn()``; each of ``repeats`` measurements averages enough calls to last ``min_block_s``."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads or torch.get_num_threads())
    number = 1
    if min_block_s > 0:  # calibrate: how many calls make one measurement last min_block_s
        number = max(1, int(np.ceil(min_block_s / max(timer.timeit(1).mean, 1e-9))))
    return _summary([timer.timeit(number).mean for _ in range(repeats)], number)


def milliseconds(timings: dict[str, Timing]) -> pd.DataFrame:
    """One row per timed call: the median and the 25th / 75th percentiles in milliseconds.

    The table a chapter prints and draws its bars from: whiskers from ``q25``
    to ``q75`` show how much of a difference between two bars is noise.
    """
    return pd.DataFrame({key: {"median": 1e3 * t.median_s, "q25": 1e3 * t.q25_s, "q75": 1e3 * t.q75_s}
                         for key, t in timings.items()}).T.rename_axis("call")

"""Timing a call honestly: warm-up, blocks of calls, interleaved rounds, median and spread.

Chapter 8 writes the protocol out (``time_interleaved``); this is the same loop:

1. warm up: the first calls pay for allocation and kernel selection;
2. time blocks of calls that last at least ``min_block_s`` (a single fast call is
   below the clock's resolution), calibrated on one timed call;
3. interleave: one block of each alternative in turn, ``repeats`` rounds, so a burst
   of load on a shared machine falls on all of them (their ratio, a speedup, is then
   fairer than either number);
4. keep every measurement, and report the median with the 25th and 75th percentiles.

The clock is read after ``torch.cuda.synchronize()`` when CUDA is present: GPU
kernels run asynchronously.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


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


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@contextlib.contextmanager
def _threads(threads: int | None):
    """Run with ``threads`` intra-op threads (the caller's number is restored)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _block(fn: Callable[[], object], number: int) -> float:
    """Seconds per call over one block of ``number`` calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    _sync()
    return (time.perf_counter() - start) / number


def time_calls(fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2, min_block_s: float = 0.02,
               threads: int | None = None) -> dict[str, Timing]:
    """Time several alternatives *interleaved*: one block of each in turn, ``repeats`` rounds."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    with _threads(threads):
        numbers = {}
        for key, fn in fns.items():
            for _ in range(warmup):
                fn()
            numbers[key] = 1
            if min_block_s > 0:  # how many calls make one block last min_block_s
                _sync()
                numbers[key] = max(1, math.ceil(min_block_s / max(_block(fn, 1), 1e-9)))
        times: dict[str, list[float]] = {key: [] for key in fns}
        for _ in range(repeats):
            for key, fn in fns.items():
                times[key].append(_block(fn, numbers[key]))
    return {key: _summary(times[key], numbers[key]) for key in fns}


def time_call(fn: Callable[[], object], repeats: int = 10, warmup: int = 2, min_block_s: float = 0.02,
              threads: int | None = None) -> Timing:
    """Time ``fn()`` alone: ``time_calls`` with one alternative."""
    return time_calls({"fn": fn}, repeats, warmup, min_block_s, threads)["fn"]


def milliseconds(timings: dict[str, Timing]) -> pd.DataFrame:
    """One row per timed call: the median and the 25th / 75th percentiles in milliseconds.

    The table a chapter prints and draws its bars from: whiskers from ``q25``
    to ``q75`` show how much of a difference between two bars is noise.
    """
    return pd.DataFrame({key: {"median": 1e3 * t.median_s, "q25": 1e3 * t.q25_s, "q75": 1e3 * t.q75_s}
                         for key, t in timings.items()}).T.rename_axis("call")

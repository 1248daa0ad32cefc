"""Deployment recommendations computed from a measured table, never written by hand.

A *scenario* states constraints (latency budget, memory budget, model-file
budget, quality floor) and an objective. The rule:

1. keep the candidates that meet every constraint;
2. objective ``"quality"``: the best quality wins, but candidates within
   ``tie`` of the best count as equally good (the 2AFC proxy has error bars),
   and among those the fastest wins;
   objective ``"throughput"``: the most items per second wins;
   objective ``"latency"``: the lowest latency wins;
3. if nothing meets the constraints, say which constraint ruled out the
   candidates instead of picking something anyway.

Candidates are rows of a DataFrame with the columns named in ``COLUMNS``
(a model, or a model with an option such as bf16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

COLUMNS = {
    "latency_ms": "latency of one LPIPS distance at batch 1 (ms)",
    "throughput": "LPIPS distances per second at the best batch size",
    "memory_mb": "peak memory of one distance: weights + activations (MiB)",
    "file_mb": "size of the deployed weights file (MiB)",
    "quality": "2AFC proxy score (higher is better)",
}


@dataclass(frozen=True)
class Scenario:
    """A use case: constraints (None = no limit) and what to maximise among the candidates that fit."""

    name: str
    objective: str = "quality"  # "quality", "throughput" or "latency"
    latency_budget_ms: float | None = None
    memory_budget_mb: float | None = None
    file_budget_mb: float | None = None
    quality_floor: float | None = None
    tie: float = 0.01  # quality differences below this count as ties (objective "quality")

    def constraints(self) -> str:
        parts = []
        if self.latency_budget_ms is not None:
            parts.append(f"latency <= {self.latency_budget_ms:g} ms")
        if self.memory_budget_mb is not None:
            parts.append(f"memory <= {self.memory_budget_mb:g} MiB")
        if self.file_budget_mb is not None:
            parts.append(f"file <= {self.file_budget_mb:g} MiB")
        if self.quality_floor is not None:
            parts.append(f"quality >= {self.quality_floor:.3f}")
        return ", ".join(parts) or "none"


def default_scenarios(best_quality: float | None = None) -> list[Scenario]:
    """The book's four use cases; the batch/cloud floor is relative to the best measured quality."""
    floor = None if best_quality is None or math.isnan(best_quality) else best_quality - 0.02
    return [
        Scenario("real-time (30 fps video)", "quality", latency_budget_ms=1000 / 30),
        Scenario("quality-first (offline evaluation)", "quality"),
        Scenario("mobile / edge", "quality", latency_budget_ms=100, memory_budget_mb=64, file_budget_mb=10),
        Scenario("batch / cloud", "throughput", quality_floor=floor),
    ]


def _fits(table: pd.DataFrame, s: Scenario) -> tuple[pd.Series, list[str]]:
    ok = pd.Series(True, index=table.index)
    reasons = []
    for column, limit, upper in (("latency_ms", s.latency_budget_ms, True), ("memory_mb", s.memory_budget_mb, True),
                                 ("file_mb", s.file_budget_mb, True), ("quality", s.quality_floor, False)):
        if limit is None:
            continue
        if column not in table:
            raise ValueError(f"scenario {s.name!r} constrains {column!r}, but the table has no such column "
                             f"(columns: {list(table.columns)})")
        passes = table[column] <= limit if upper else table[column] >= limit
        reasons += [f"{idx}: {column} {table.at[idx, column]:.4g} {'>' if upper else '<'} {limit:.4g}"
                    for idx in table.index[ok & ~passes]]
        ok &= passes
    return ok, reasons


def recommend(table: pd.DataFrame, scenario: Scenario) -> dict:
    """The pick for one scenario: ``{"scenario", "choice", "constraints", "why"}`` (choice None if nothing fits)."""
    if table.empty:
        raise ValueError("the candidate table is empty")
    if scenario.objective not in ("quality", "throughput", "latency"):
        raise ValueError(f"unknown objective {scenario.objective!r}; choose quality, throughput or latency")
    ok, reasons = _fits(table, scenario)
    fitting = table[ok]
    out = {"scenario": scenario.name, "constraints": scenario.constraints(), "objective": scenario.objective}
    if fitting.empty:
        return {**out, "choice": None, "why": "nothing fits: " + "; ".join(reasons)}
    if scenario.objective == "quality":
        best = fitting["quality"].max()
        near = fitting[fitting["quality"] >= best - scenario.tie]
        choice = near["latency_ms"].idxmin()
        why = (f"best quality {best:.3f}; {len(near)} candidate(s) within {scenario.tie} of it, fastest is "
               f"{choice} at {near.at[choice, 'latency_ms']:.3g} ms")
    elif scenario.objective == "throughput":
        choice = fitting["throughput"].idxmax()
        why = f"highest throughput among {len(fitting)} fitting: {fitting.at[choice, 'throughput']:.4g}/s"
    else:
        choice = fitting["latency_ms"].idxmin()
        why = f"lowest latency among {len(fitting)} fitting: {fitting.at[choice, 'latency_ms']:.3g} ms"
    return {**out, "choice": choice, "why": why}


def recommendation_table(table: pd.DataFrame, scenarios: list[Scenario] | None = None) -> pd.DataFrame:
    """One row per scenario: the constraints, the pick and the reason, all computed from ``table``."""
    if scenarios is None:
        scenarios = default_scenarios(table["quality"].max() if "quality" in table else None)
    return pd.DataFrame([recommend(table, s) for s in scenarios]).set_index("scenario")

"""Checks for assignment 4: measure a speed/quality trade-off and explain it.

The student measures LPIPS latency and the offline 2AFC score of the three
backbones with ``ModelAnalyzer`` and then computes, from those measurements:

* A4.1 ``tradeoff_table``: one row per network, batch-1 LPIPS latency and 2AFC quality;
* A4.2 ``pareto_front``: the networks no other network beats on both axes;
* A4.3 ``pick_model``: the best network within a latency budget.

Every check recomputes the answer from the student's *own* analyzer (their
machine, their numbers), so results differ between students but grading does
not. The written explanation is left to the instructor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from .attempt import NotReady, call_by_name, call_returning, exercise, grader, lookup, written_answer
from .report import Report


def _analyzer(namespace: Mapping):
    analyzer = lookup(namespace, "analyzer", "run the measurement cell (analyzer = ModelAnalyzer(...))")
    results = getattr(analyzer, "results", {})
    missing = [k for k in ("speed", "two_afc") if k not in results]
    if missing:
        raise NotReady(f"the analyzer has no {missing} results yet: run analyzer.speed() and analyzer.two_afc()")
    return analyzer


def measured_table(analyzer) -> pd.DataFrame:
    """The reference answer to A4.1: batch-1 LPIPS latency at the analysis size and 2AFC score, per network."""
    size = analyzer.config.image_size
    speed = analyzer.results["speed"]
    lpips_rows = speed[(speed["mode"] == "lpips") & (speed["batch"] == 1) & (speed["size"] == size)]
    afc = analyzer.results["two_afc"].set_index("metric")
    rows = {name: {"latency_ms": float(lpips_rows.loc[lpips_rows["model"] == name, "median_ms"].iloc[0]),
                   "quality": float(afc.at[name, "two_afc"])} for name in analyzer.config.models}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def pareto(table: pd.DataFrame) -> list[str]:
    """Networks that no other network matches or beats on both latency (lower) and quality (higher)."""
    front = []
    for name, row in table.iterrows():
        dominated = any(
            o["latency_ms"] <= row["latency_ms"] and o["quality"] >= row["quality"]
            and (o["latency_ms"] < row["latency_ms"] or o["quality"] > row["quality"])
            for other, o in table.iterrows() if other != name)
        if not dominated:
            front.append(name)
    return front


def best_within(table: pd.DataFrame, budget_ms: float) -> str | None:
    """Highest quality among networks with latency <= budget (ties: the faster); None if none fits."""
    fits = table[table["latency_ms"] <= budget_ms]
    if fits.empty:
        return None
    best = fits["quality"].max()
    return fits[fits["quality"] == best]["latency_ms"].idxmin()


def _close(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def _latency_mixup(analyzer, name: str, value) -> str:
    """Which other number of the speed table the student's latency equals, if any."""
    size, speed = analyzer.config.image_size, analyzer.results["speed"]
    rows = speed[speed["model"] == name]
    for _, r in rows.iterrows():
        for column in ("median_ms", "q25_ms", "q75_ms", "ms_per_item"):
            if _close(r[column], value) and not (
                r["mode"] == "lpips"
                and r["batch"] == 1
                and r["size"] == size
                and column in ("median_ms", "ms_per_item")
            ):
                return (
                    f": that is {column} of mode={r['mode']!r}, batch {r['batch']}, size {r['size']}; use the "
                    f"median of mode 'lpips' (a whole distance), batch 1, size {size}"
                )
    return ""


def _student_table(namespace: Mapping, analyzer) -> pd.DataFrame:
    return call_returning(namespace, "tradeoff_table", pd.DataFrame, "a pandas DataFrame", analyzer)


# --------------------------------------------------------------------------- A4.1


@exercise("A4.1 tradeoff_table", points=3)
def check_table(namespace: Mapping, report: Report) -> None:
    analyzer = _analyzer(namespace)
    reference = measured_table(analyzer)
    table = _student_table(namespace, analyzer)
    problems = []
    if "model" in table.columns and set(table["model"]) == set(reference.index):
        problems.append("the networks are a column, not the index: return table.set_index('model')")
    elif set(table.index) != set(reference.index):
        problems.append(f"the index is {list(table.index)}, expected the networks {list(reference.index)}")
    missing = [c for c in ("latency_ms", "quality") if c not in table.columns]
    if missing:
        problems.append(f"missing column(s) {missing} (columns: {list(table.columns)})")
    report.add(
        "one row per network, columns latency_ms and quality",
        1,
        not problems,
        "; ".join(problems) or f"{len(table)} networks: {', '.join(map(str, table.index))}",
    )
    if problems:
        report.add("latency_ms", 1, False, "fix the table's shape first")
        report.add("quality", 1, False, "fix the table's shape first")
        return
    wrong = [
        f"{n}: {table.at[n, 'latency_ms']!r} vs {reference.at[n, 'latency_ms']:.4g} ms measured"
        + _latency_mixup(analyzer, n, table.at[n, "latency_ms"])
        for n in reference.index
        if not _close(table.at[n, "latency_ms"], reference.at[n, "latency_ms"])
    ]
    report.add("latency_ms", 1, not wrong, "; ".join(wrong) or "the median batch-1 LPIPS latency of every network")
    afc = analyzer.results["two_afc"].set_index("metric")
    wrong = []
    for n in reference.index:
        got = table.at[n, "quality"]
        if not _close(got, reference.at[n, "quality"]):
            hint = ""
            if any(_close(got, afc.at[n, c]) for c in ("ci_low", "ci_high")):
                hint = ": that is an end of the confidence interval; use the two_afc column"
            elif _close(got, 100 * reference.at[n, "quality"]):
                hint = ": keep the score as a fraction (0 to 1)"
            wrong.append(f"{n}: {got!r} vs 2AFC {reference.at[n, 'quality']:.4g}{hint}")
    report.add("quality", 1, not wrong, "; ".join(wrong) or "the offline 2AFC score of every network")


# --------------------------------------------------------------------------- A4.2 / A4.3


def _table_for_checks(namespace: Mapping, analyzer) -> tuple[pd.DataFrame, str]:
    """The student's table when it is usable (grading follows from their numbers), else the measured one."""
    try:
        table = _student_table(namespace, analyzer)
        if {"latency_ms", "quality"} <= set(table.columns) and len(table):
            return table[["latency_ms", "quality"]].astype(float), "your table"
    except NotReady:
        pass
    return measured_table(analyzer), "the measured table (your tradeoff_table is not usable yet)"


@exercise("A4.2 pareto_front", points=2)
def check_pareto(namespace: Mapping, report: Report) -> None:
    analyzer = _analyzer(namespace)
    table, source = _table_for_checks(namespace, analyzer)
    got = call_by_name(namespace, "pareto_front", table.copy())
    if isinstance(got, (str, bytes)) or not hasattr(got, "__iter__"):
        raise NotReady(f"pareto_front should return a list of network names, got {got!r}")
    got = list(got)
    front = pareto(table)
    extra = [n for n in got if n not in front]
    why = []
    for n in extra:
        if n not in table.index:
            why.append(f"{n!r} is not a network of the table")
            continue
        by = next(
            o
            for o in table.index
            if o != n
            and table.at[o, "latency_ms"] <= table.at[n, "latency_ms"]
            and table.at[o, "quality"] >= table.at[n, "quality"]
        )
        why.append(
            f"{n} is dominated by {by} ({table.at[by, 'latency_ms']:.3g} ms vs {table.at[n, 'latency_ms']:.3g} ms, "
            f"quality {table.at[by, 'quality']:.3f} vs {table.at[n, 'quality']:.3f})"
        )
    report.add(
        "no dominated network", 1, not extra, "; ".join(why) or f"every listed network is on the front ({source})"
    )
    missing = [n for n in front if n not in got]
    report.add(
        "every non-dominated network",
        1,
        not missing,
        f"front: {', '.join(front)}"
        if not missing
        else f"missing {', '.join(missing)}: no other network is both at least as fast and at least as good",
    )


@exercise("A4.3 pick_model", points=3)
def check_pick(namespace: Mapping, report: Report) -> None:
    analyzer = _analyzer(namespace)
    table, source = _table_for_checks(namespace, analyzer)
    lat = sorted(table["latency_ms"])
    budgets = sorted(set(lat + [(a + b) / 2 for a, b in zip(lat, lat[1:])] + [lat[-1] * 2]))
    picks = {b: call_by_name(namespace, "pick_model", table.copy(), b) for b in budgets + [lat[0] / 2]}
    over = [
        f"budget {b:.3g} ms: {p} takes {table.at[p, 'latency_ms']:.3g} ms"
        for b, p in picks.items()
        if p is not None and p in table.index and table.at[p, "latency_ms"] > b
    ]
    unknown = [
        f"budget {b:.3g} ms: returned {p!r}, not a network of the table"
        for b, p in picks.items()
        if p is not None and p not in table.index
    ]
    report.add(
        "stays within the budget",
        1,
        not over and not unknown,
        "; ".join(over + unknown) or f"never picks a network slower than the budget ({source})",
    )
    wrong = []
    for b in budgets:
        expected, got = best_within(table, b), picks[b]
        if got != expected:
            hint = ""
            if got is None:
                hint = (
                    " although it fits (a network that takes exactly the budget fits: <=)"
                    if any(_close(b, v) for v in lat)
                    else ""
                )
            elif got in table.index and table.at[got, "quality"] < table.at[expected, "quality"]:
                hint = (f" (quality {table.at[got, 'quality']:.3f} < {table.at[expected, 'quality']:.3f}: "
                        "pick the best quality that fits, not the fastest)")
            wrong.append(f"budget {b:.3g} ms: expected {expected}, got {got!r}{hint}")
    report.add(
        "best quality within the budget",
        1,
        not wrong,
        "; ".join(wrong[:3])
        or f"right on {len(budgets)} budgets, from exactly the fastest latency to twice the slowest",
    )
    tight = lat[0] / 2
    report.add(
        "None when nothing fits",
        1,
        picks[tight] is None,
        f"budget {tight:.3g} ms: " + ("None" if picks[tight] is None else f"got {picks[tight]!r}, expected None"),
    )


QUESTION = (
    "which network would you use to compare video frames in real time on this machine, and which for an "
    "offline benchmark; what did you measure that supports it, and how much do you trust the quality numbers?"
)

check_answer = written_answer("A4.4 written answer", 3, QUESTION)


CHECKS = (check_table, check_pareto, check_pick, check_answer)


grade = grader("A4 Speed versus quality", CHECKS)

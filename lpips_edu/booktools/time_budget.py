"""How long each page of the book may take to execute under the cpu profile.

The budget is set for the slowest machine the book promises to build on: a
2-core x86 CPU with AVX2 and no native bf16 (most laptops). ``make book`` there
must stay within ``BOOK_MINUTES`` in all. Each chapter states its own figure
under its goal (``run_time_sentence``, checked by the tests), ``make book``
records what each page really took in ``_build/timings.json``
(``book/_ext/execution_timings.py``), and ``tests/test_built_book.py`` fails a
cpu-profile build whose pages overran. When a chapter cannot fit, the fix is a
smaller run for that chapter (its recipe or its measurement sizes), not a larger
budget or timeout.
"""

from __future__ import annotations

import math
import time

BOOK_MINUTES = 35  # all executed pages together, under the cpu profile, 2 cores, AVX2, no native bf16
# A page may run this much over its expected time before the build check fails (timing noise, a
# slower CPU); the book as a whole gets no allowance beyond BOOK_MINUTES.
PAGE_TOLERANCE = 1.5
PAGE_SLACK_S = 30  # ... or this many seconds, for the short pages whose kernel start alone varies by seconds

# Expected minutes per executed page: what it took on the reference machine (2 AMD EPYC cores with
# AVX2 and no AVX512-BF16, torch 2.14.1), rounded up to a quarter minute. They add up to less than
# BOOK_MINUTES; the last fresh-clone build there took 27.6 of them. Chapters 1b and 2b went from
# 4.75 and 6 to 7 minutes when their cpu recipes changed to ones that learn (AlexNet: six epochs with
# warm-up and clipping; VGG: three epochs without classifier dropout), measured at 410 and 418 s;
# chapter 9 measured 81 s and chapter 7b 110 s in that build. (The budget was 20 minutes until the
# chapters moved to ImageNet features: the transfer-learning runs of chapters 1b and 2b, which train
# the same recipe a second time from ImageNet features, added about 4.5 minutes.
# It was 27 until the "Be the observer" page came (half a minute)
# and chapters 5 and 6 moved to interleaved timing rounds with quartiles, which time each variant
# longer than one autorange block did: together about 2.5 minutes. It was 30 until chapter 7b, on
# where LPIPS fails, added 4 minutes.)
PAGE_MINUTES: dict[str, float] = {
    "notebooks/00_data": 0.5,
    "notebooks/01_alexnet": 0.5,
    "notebooks/01b_training_alexnet": 7.0,
    "notebooks/02_vgg": 1.25,
    "notebooks/02b_training_vgg": 7.0,
    "notebooks/03_squeezenet": 0.25,
    "notebooks/03b_training_squeezenet": 3.0,
    "notebooks/04_why_pixels_fail": 0.75,
    "notebooks/05_extracting_layers": 1.25,
    "notebooks/06_lpips_metric": 1.25,
    "notebooks/06b_be_the_observer": 0.5,
    "notebooks/07_calibration": 3.0,
    "notebooks/07b_where_lpips_fails": 2.0,
    "notebooks/08_comparison": 2.25,
    "notebooks/09_deployment": 1.5,
}

# The instructor edition (make instructor-book) executes the assignments with their solutions; the
# published book shows the student versions without running them, so they are not in BOOK_MINUTES.
INSTRUCTOR_BOOK_MINUTES = 10
# Measured in the instructor edition's fresh-clone build on the reference machine (a1 11 s, a2 7, a3 176,
# a4 35, a5 14, a6 15), rounded up; A3 trains chapter 1b's AlexNet recipe for 150 steps.
ASSIGNMENT_MINUTES: dict[str, float] = {
    "assignments/source/a1_build_alexnet2012": 0.25,
    "assignments/source/a2_lpips_from_features": 0.25,
    "assignments/source/a3_train_with_a_budget": 3.0,
    "assignments/source/a4_speed_quality_tradeoff": 0.75,
    "assignments/source/a5_calibrate_heads": 0.5,
    "assignments/source/a6_break_the_metric": 0.5,
}


def page_minutes(page: str) -> float | None:
    """The budget of a page (``notebooks/07_calibration``, with or without ``.ipynb``), or None.

    A student assignment page (``assignments/student/...``) states its source's budget: it is what
    a student's run of the finished notebook takes.
    """
    page = page.removesuffix(".ipynb").replace("assignments/student/", "assignments/source/")
    return PAGE_MINUTES.get(page, ASSIGNMENT_MINUTES.get(page))


def page_limit_seconds(minutes: float) -> float:
    """How long a page with this budget may take before the build check fails (PAGE_TOLERANCE, or 30 s more)."""
    return max(60 * minutes * PAGE_TOLERANCE, 60 * minutes + PAGE_SLACK_S)


def run_time_sentence(page: str) -> str:
    """The sentence a chapter states its budget in, under its goal."""
    minutes = page_minutes(page)
    if minutes is None:
        raise KeyError(f"{page} has no time budget: add it to lpips_edu.booktools.time_budget.PAGE_MINUTES")
    amount = "less than a minute" if minutes <= 1 else f"about {math.ceil(minutes)} minutes"
    return (f"**Run time.** The cpu profile budgets {amount} for this page on a 2-core laptop CPU computing "
            "in float32, as most laptops do (under the smoke profile, seconds).")


def budget_problems(
    record: dict, budgets: dict[str, float] | None = None, book_minutes: float | None = None
) -> list[str]:
    """What a recorded build (``_build/timings.json``) did wrong: failures, overruns, missing pages.

    ``budgets`` and ``book_minutes`` default to the published book's (``PAGE_MINUTES``,
    ``BOOK_MINUTES``); the instructor edition passes ``ASSIGNMENT_MINUTES`` and
    ``INSTRUCTOR_BOOK_MINUTES``.
    """
    budgets = PAGE_MINUTES if budgets is None else budgets
    book_minutes = BOOK_MINUTES if book_minutes is None else book_minutes
    pages = record.get("pages", {})
    problems = [f"{page}: execution failed ({info.get('error')})" for page, info in pages.items()
                if not info.get("succeeded")]
    if record.get("profile") != "cpu":
        return problems  # the budget is for the cpu profile; smoke and gpu builds are only checked for failures
    problems += [f"{page}: executed in no recorded build (is it in _toc.yml?)" for page in budgets
                 if page not in pages]
    total = 0.0
    for page, info in pages.items():
        seconds, minutes = info.get("seconds") or 0.0, budgets.get(page)
        total += seconds
        if minutes is None:
            problems.append(f"{page}: took {seconds / 60:.1f} min and has no budget in "
                            "lpips_edu.booktools.time_budget")
        elif seconds > page_limit_seconds(minutes):
            problems.append(f"{page}: took {seconds / 60:.1f} min, over the {page_limit_seconds(minutes) / 60:.1f} min "
                            f"allowed for its budget of {minutes:g} min: make its cpu-profile run smaller")
    if total > 60 * book_minutes:
        problems.append(f"the book took {total / 60:.1f} min to execute, over its budget of {book_minutes} min")
    return problems


def timings_table(record: dict) -> str:
    """The recorded build as a Markdown table: seconds, budget and status per page, and the total."""
    machine = record.get("machine", {})
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.get("finished_at", time.time())))
    lines = [f"Execution times, profile {record.get('profile')}, {when}; {machine.get('cpu', '?')}, "
             f"{machine.get('cpu_cores', '?')} cores; {machine.get('precisions', '')}", "",
             "| page | seconds | expected (min) | status |", "|---|---:|---:|---|"]
    total = 0.0
    for page, info in record.get("pages", {}).items():
        seconds = info.get("seconds") or 0.0
        total += seconds
        budget = info.get("budget_minutes")
        status = "ok" if info.get("succeeded") else f"FAILED: {info.get('error')}"
        if info.get("succeeded") and budget and seconds > page_limit_seconds(budget):
            status = f"over budget (allowed {page_limit_seconds(budget):.0f} s)"
        lines.append(f"| {page} | {seconds:.0f} | {budget if budget is not None else '-'} | {status} |")
    lines.append(f"| **total** | **{total:.0f}** ({total / 60:.1f} min) | {record.get('book_budget_minutes')} | |")
    return "\n".join(lines)

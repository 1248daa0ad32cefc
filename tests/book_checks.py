"""Checks of a built book that need no browser: execution reports, pages without outputs, run times.

Pure functions over the files in ``_build``, so that the unit tests can show each
check failing on a page made to fail, and ``tests/test_built_book.py`` applies
them to the real build.
"""

from __future__ import annotations

import re
from pathlib import Path

CELL_INPUT = re.compile(r'class="cell_input\b')
CELL_OUTPUT = re.compile(r'class="cell_output\b')


def output_problems(page: str, html: str) -> list[str]:
    """A notebook page whose code cells all came out without outputs: its execution failed or timed out."""
    inputs, outputs = len(CELL_INPUT.findall(html)), len(CELL_OUTPUT.findall(html))
    if inputs and not outputs:
        return [f"{page}: {inputs} code cells and not one output (did its execution fail or time out? "
                "see _build/html/reports/ and the build log)"]
    return []


def report_problems(html_dir: Path) -> list[str]:
    """myst-nb writes ``reports/<page>.err.log`` for every notebook whose execution raised."""
    reports = sorted((html_dir / "reports").rglob("*.log")) if (html_dir / "reports").exists() else []
    problems = []
    for report in reports:
        lines = report.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        last = lines[-1] if lines else "(empty report)"
        problems.append(f"execution error report {report.relative_to(html_dir)}: {last[:200]}")
    return problems


# What a published page must not say: it speaks to a reader, not about the machine that built it.
MACHINE_PATH = re.compile(r"(?<![\w.~])(?:/(?:root|home|tmp|work|Users|opt|usr|var|private|mnt|srv)/[\w.@+-]+"
                          r"|[A-Za-z]:\\\\[\w.]+)")
LAB_NOTES = {
    "a Python install's folder": re.compile(r"site-packages|dist-packages"),
    "a test file of this project": re.compile(r"\btests/test_\w+\.py\b"),
    "a benchmark log": re.compile(r"\bflock\b|load average|lpips-edu-bench\.lock"),
    "test or CI chatter": re.compile(r"headless Chromium|other jobs kept|while (?:another|other) jobs?\b"
                                     r"|\bCI (?:run|job|build)s?\b|\.ci/run"),
}
SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)
TAG = re.compile(r"<[^>]+>")


def page_text(html: str) -> str:
    """The text a reader sees on a built page: scripts, styles and tags removed, entities decoded."""
    import html as html_lib

    return html_lib.unescape(TAG.sub(" ", SCRIPT_OR_STYLE.sub(" ", html)))


def reader_problems(page: str, text: str, names: tuple[str, ...] = ()) -> list[str]:
    """Machine paths, this machine's user or host name (``names``), test/CI chatter or benchmark logs in a page."""
    problems = [f"{page}: an absolute path {m.group(0)!r}" for m in MACHINE_PATH.finditer(text)]
    for what, pattern in LAB_NOTES.items():
        problems += [f"{page}: {what} {m.group(0)!r}" for m in pattern.finditer(text)]
    for name in names:
        if name and len(name) > 3 and re.search(rf"\b{re.escape(name)}\b", text):
            problems.append(f"{page}: the build machine's name {name!r}")
    return problems


def solution_problems(page: str, text: str, solutions: list[str]) -> list[str]:
    """Lines of a solution (``assignment_release.solution_lines``) that a student's page shows.

    Compared with all white space removed: the highlighted code of a built page
    is split into many tags, which ``page_text`` turns into spaces.
    """
    squeezed = re.sub(r"\s+", "", text)
    problems = [f"{page}: shows the solution line {line!r}" for line in solutions
                if re.sub(r"\s+", "", line) in squeezed]
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    problems += [f"{page}: shows a solution marker {m!r}" for m in markers if m in text]
    return problems

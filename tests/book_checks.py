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

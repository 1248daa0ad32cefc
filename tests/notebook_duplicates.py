"""Code cells that two notebooks share: machinery that belongs in ``lpips_edu``.

A cell copied from one chapter into another is code that two notebooks need,
and the house rule puts such code in the package, with a test. Two checks:

* the same cell: equal after normalising (comments, imports, blank lines and
  trailing spaces dropped), at least ``MIN_SAME_LINES`` lines; imports name
  machinery rather than being it, and two pages that use the same tools
  import the same names;
* nearly the same cell: at least ``MIN_NEAR_LINES`` lines each and a difflib
  ratio of at least ``NEAR_RATIO`` (a cell copied and given another model name).

Short cells are not reported: ``profile = "auto"`` / ``seed = 0`` (the papermill
``parameters`` cell of most pages) or ``plt.show()`` are the same everywhere by
convention and hold no machinery. Two kinds of cell are exempt whatever their
length, because every notebook needs its own and they cannot be imported:

* the install cell (``is_install_cell``): it runs before ``lpips_edu`` can be
  imported, and ``tests/test_repository.py`` requires it in every notebook;
* a ``parameters`` cell, from the near-duplicate check only: notebooks with the
  same inputs give them the same names and differ in their defaults by design.
  A parameters cell that equals another one still counts as the same cell.

Pure functions over nbformat notebooks, so that a unit test can show the
checker failing on a made-up pair (``tests/test_notebook_duplicates.py``).
"""

from __future__ import annotations

import ast
import difflib
import io
import itertools
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

MIN_SAME_LINES = 3
MIN_NEAR_LINES = 4
NEAR_RATIO = 0.9


@dataclass(frozen=True)
class SharedCell:
    """One cell of ``first`` that ``second`` also has (``ratio`` 1.0: the same after normalising)."""

    first: str
    first_index: int
    second: str
    second_index: int
    ratio: float
    lines: int

    def __str__(self) -> str:
        kind = "the same cell" if self.ratio == 1.0 else f"a near copy ({self.ratio:.0%} alike)"
        return (f"{self.first} cell {self.first_index} and {self.second} cell {self.second_index}: {kind}, "
                f"{self.lines} lines; move the shared code into lpips_edu")


def normalise(source: str) -> list[str]:
    """The lines of a code cell that do something: no comments, imports, blank lines or trailing spaces.

    Imports are dropped because they name machinery rather than being it: two
    pages that use the same tools import the same names.
    """
    lines = source.splitlines()
    try:  # tokenize tells a '#' inside a string from a comment
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    try:  # ast finds an import written over several lines
        imports = [node for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    except SyntaxError:  # an IPython magic: the imports stay in
        imports = []
    for token in reversed(tokens):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    for node in imports:
        for row in range(node.lineno, node.end_lineno + 1):
            lines[row - 1] = ""
    return [line.rstrip() for line in lines if line.strip()]


def is_install_cell(cell) -> bool:
    """The hidden cell that pip-installs lpips-edu on Colab or Binder when it is missing."""
    return "except ImportError" in cell.source and "lpips-edu[book]" in cell.source


def code_cells(notebook) -> list[tuple[int, list[str], bool]]:
    """(cell index, normalised lines, is a parameters cell) for the cells the checks compare."""
    cells = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or is_install_cell(cell):
            continue
        cells.append((index, normalise(cell.source), "parameters" in cell.metadata.get("tags", [])))
    return cells


def shared_cells(notebooks: dict[str, object]) -> list[SharedCell]:
    """Every pair of cells, in two different notebooks, that is the same or nearly the same."""
    cells = {name: code_cells(nb) for name, nb in notebooks.items()}
    found = []
    for (a, cells_a), (b, cells_b) in itertools.combinations(cells.items(), 2):
        for (i, lines_a, param_a), (j, lines_b, param_b) in itertools.product(cells_a, cells_b):
            if lines_a == lines_b:
                if len(lines_a) >= MIN_SAME_LINES:
                    found.append(SharedCell(a, i, b, j, 1.0, len(lines_a)))
                continue
            if param_a or param_b or min(len(lines_a), len(lines_b)) < MIN_NEAR_LINES:
                continue
            matcher = difflib.SequenceMatcher(None, "\n".join(lines_a), "\n".join(lines_b), autojunk=False)
            if matcher.real_quick_ratio() >= NEAR_RATIO and matcher.quick_ratio() >= NEAR_RATIO:
                ratio = matcher.ratio()
                if ratio >= NEAR_RATIO:
                    found.append(SharedCell(a, i, b, j, ratio, min(len(lines_a), len(lines_b))))
    return found


def read_notebooks(paths: list[Path], root: Path) -> dict[str, object]:
    """Notebooks by their path relative to ``root`` (what the messages name)."""
    return {str(p.relative_to(root)): nbformat.read(p, as_version=4) for p in paths}

"""Student versions of the assignments, built from the one source that holds the solutions.

    python -m lpips_edu.booktools.assignment_release build                 # assignments/source -> assignments/student
    python -m lpips_edu.booktools.assignment_release build --out handout/  # elsewhere

The student versions are committed (``assignments/student``): the published
book shows them, so that no solution reaches its HTML, and its launch buttons
open them; a test fails when they fall behind their sources. The sources, with
the solutions, go into the instructor edition (``make instructor-book``).

Source notebooks (``assignments/source/*.ipynb``) contain the solutions
between nbgrader's markers, so the same files work with ``nbgrader
generate_assignment``::

    def f(x):
        ### BEGIN SOLUTION
        return 2 * x
        ### END SOLUTION

The student version replaces each such block, at its indentation, with
``# YOUR CODE HERE`` and ``raise NotImplementedError(...)`` (in Markdown
cells: ``YOUR ANSWER HERE``), drops cells tagged ``solution-only``, removes
the book's toggle tags from solution cells, and strips every output.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from .notebook_hygiene import strip_notebook, write_atomic

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_ONLY = "solution-only"
BOOK_TAGS = {"hide-input", "hide-cell", "hide-output", "remove-input", "remove-cell"}  # the book's solution toggles
STUDENT_MARKER = "# YOUR CODE HERE"
MARKDOWN_ANSWER = "YOUR ANSWER HERE"


def _enclosing_name(lines: list[str], index: int, indent: int) -> str | None:
    """``Class.method`` or ``function`` of the innermost ``def`` that contains line ``index``."""
    names = []
    for line in reversed(lines[:index]):
        match = re.match(r"^(\s*)(?:async\s+)?(def|class)\s+(\w+)", line)
        if match and len(match.group(1)) < indent:
            names.append(match.group(3))
            indent = len(match.group(1))
    return ".".join(reversed(names)) or None


def strip_code(source: str, where: str = "cell") -> str:
    """Replace every solution block of a code cell by the student stub."""
    lines, out, i = source.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if line.strip() != BEGIN:
            if line.strip() == END:
                raise ValueError(f"{where}: '{END}' without '{BEGIN}'")
            out.append(line)
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() in (BEGIN, END)), None)
        if end is None or lines[end].strip() != END:
            raise ValueError(f"{where}: '{BEGIN}' on line {i + 1} has no matching '{END}'")
        name = _enclosing_name(lines, i, indent)
        what = f"the # YOUR CODE HERE block in {name}" if name else "the # YOUR CODE HERE block"
        pad = line[:indent]
        out += [f"{pad}{STUDENT_MARKER}", f'{pad}raise NotImplementedError("replace {what} with your code")']
        i = end + 1
    return "\n".join(out)


def strip_markdown(source: str, where: str = "cell") -> str:
    """Replace every solution block of a Markdown cell by ``YOUR ANSWER HERE``."""
    pattern = re.compile(rf"^[ \t]*{re.escape(BEGIN)}[ \t]*$.*?^[ \t]*{re.escape(END)}[ \t]*$", re.M | re.S)
    stripped = pattern.sub(MARKDOWN_ANSWER, source)
    if BEGIN in stripped or END in stripped:
        raise ValueError(f"{where}: unbalanced solution markers")
    return stripped


def has_solution(cell) -> bool:
    return any(line.strip() == BEGIN for line in cell.source.split("\n"))


def student_version(nb, name: str = "notebook"):
    """A copy of a source notebook with the solutions removed (see the module docstring)."""
    nb = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if SOLUTION_ONLY in tags:
            continue
        if has_solution(cell):
            where = f"{name} cell {i}"
            cell.source = (
                strip_code(cell.source, where) if cell.cell_type == "code" else strip_markdown(cell.source, where)
            )
            kept = [t for t in tags if t not in BOOK_TAGS]
            if kept:
                cell.metadata["tags"] = kept
            else:
                cell.metadata.pop("tags", None)
        cells.append(cell)
    nb.cells = cells
    nb.metadata.setdefault("lpips_edu", {})["version"] = "student"
    return strip_notebook(nb, keep_checked=False)


def solution_lines(nb, min_length: int = 8) -> list[str]:
    """The lines only the solutions hold (code and written answers): what must never appear in a student's page.

    Every stripped line between the markers, or in a ``solution-only`` cell,
    that is at least ``min_length`` characters long, is not a comment, and
    does not also occur anywhere outside the solution blocks, white space
    aside: a scaffold line such as ``return out``, or ``loss.backward()`` named
    in the instructions, gives nothing away.
    """
    inside, outside = set(), []
    for cell in nb.cells:
        within, dropped = False, SOLUTION_ONLY in cell.metadata.get("tags", [])  # dropped cells are solutions whole
        for line in cell.source.split("\n"):
            text = line.strip()
            if text in (BEGIN, END):
                within = text == BEGIN
                continue
            if within or dropped:
                inside.add(text)
            else:
                outside.append(text)
    shown = re.sub(r"\s+", "", "".join(outside))
    return sorted(t for t in inside if len(t) >= min_length and not t.startswith("#")
                  and re.sub(r"\s+", "", t) not in shown)


def stale(source_dir: str | Path = "assignments/source", student_dir: str | Path = "assignments/student") -> list[str]:
    """The student notebooks that are missing or differ from what ``build`` writes from their sources now."""
    source_dir, student_dir = Path(source_dir), Path(student_dir)
    problems = []
    for path in sorted(source_dir.glob("*.ipynb")):
        expected = nbformat.writes(student_version(nbformat.read(path, as_version=4), path.name))
        target = student_dir / path.name
        if not target.exists():
            problems.append(f"{target} is missing")
        elif nbformat.writes(nbformat.read(target, as_version=4)) != expected:
            problems.append(f"{target} differs from the student version of {path}")
    extra = {p.name for p in student_dir.glob("*.ipynb")} - {p.name for p in source_dir.glob("*.ipynb")}
    problems += [f"{student_dir / name} has no source in {source_dir}" for name in sorted(extra)]
    return problems


def build(
    source_dir: str | Path = "assignments/source",
    out_dir: str | Path = "assignments/student",
    notebooks: list[Path] | None = None,
) -> list[Path]:
    """Write the student version of every source notebook into ``out_dir``; returns the written paths."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    paths = notebooks or sorted(source_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {source_dir}; run from the repository root or pass --source")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = student_version(nbformat.read(path, as_version=4), path.name)
        target = out_dir / path.name
        write_atomic(nb, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lpips_edu.booktools.assignment_release",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student notebooks")
    b.add_argument("notebooks", nargs="*", type=Path, help="source notebooks (default: every one in --source)")
    b.add_argument("--source", type=Path, default=Path("assignments/source"))
    b.add_argument("--out", type=Path, default=Path("assignments/student"))
    args = parser.parse_args(argv)
    for path in build(args.source, args.out, args.notebooks or None):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grade submitted assignment notebooks: ``python -m lpips_edu.grading PATH... [--csv F] [--feedback-dir D]``.

A PATH is a notebook or a folder: a class's folder is graded in one command,
every ``.ipynb`` under it (checkpoint folders skipped), each named in the
results by its path relative to that folder (``jane/a1_build_alexnet2012``).
Every notebook runs in a fresh kernel (errors allowed) under the ``cpu``
profile unless ``--profile`` says otherwise (under ``smoke`` assignment 3's
accuracy bar and assignment 5's held-out bar are not judged: smoke runs are too
short to learn). A cell that
runs past ``--timeout`` seconds is interrupted and the rest of the notebook
runs; a file that is not a notebook scores 0 with a note. The report of each
is printed; ``--feedback-dir`` writes each student's report to its own text
file, ``--csv`` one row per graded item plus a total per notebook, ``--json``
everything. The exit status is 0 whatever the scores: a low score is a
result, not an error.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ..io import write_text_atomic
from .notebook import grade_notebook


def submissions(paths: list[Path]) -> list[tuple[str, Path]]:
    """(name, notebook) for every path: a notebook by its file name, a folder's by their path inside it."""
    found = []
    for path in paths:
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise SystemExit(f"error: no .ipynb files in {path}")
            found += [(str(p.relative_to(path).with_suffix("")), p) for p in notebooks]
        elif path.exists():
            found.append((path.stem, path))
        else:
            raise SystemExit(f"error: {path} does not exist")
    return found


def feedback_name(name: str) -> str:
    """The feedback file of a submission: its name with the folders joined by ``__`` (one flat folder)."""
    return name.replace("/", "__").replace("\\", "__") + ".txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lpips_edu.grading", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks, or folders of notebooks (a class)")
    parser.add_argument("--profile", default="cpu",
                        help="run size for every notebook: cpu (default), smoke, gpu, or 'keep' for the notebook's own")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell before it is interrupted")
    parser.add_argument("--assignment", help="grade every notebook as this assignment (a1 ...), whatever it names")
    parser.add_argument("--json", type=Path, help="write every report to this JSON file")
    parser.add_argument("--csv", type=Path, help="write one row per graded item (and a total per notebook)")
    parser.add_argument("--feedback-dir", type=Path, help="write each notebook's report to its own text file here")
    parser.add_argument("--executed-dir", type=Path, help="keep the executed notebooks in this folder")
    args = parser.parse_args(argv)

    reports = {}
    found = submissions(args.paths)
    names = [name for name, _ in found]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise SystemExit(f"error: two submissions are named {twice[0]!r}: grade their folders, not the files")
    for name, path in found:
        executed = None
        if args.executed_dir:
            args.executed_dir.mkdir(parents=True, exist_ok=True)
            executed = args.executed_dir / (feedback_name(name).removesuffix(".txt") + ".ipynb")
        report = grade_notebook(path, profile=None if args.profile == "keep" else args.profile,
                                timeout=args.timeout, executed_path=executed, assignment=args.assignment)
        reports[name] = report
        print(report, end="\n\n", flush=True)
        if args.feedback_dir:
            args.feedback_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(args.feedback_dir / feedback_name(name), f"{report}\n")

    if args.json:
        write_text_atomic(args.json, json.dumps({n: r.to_dict() for n, r in reports.items()}, indent=1) + "\n")
    if args.csv:
        write_csv(args.csv, reports)
    if len(reports) > 1:
        print("summary:")
        for name, report in reports.items():
            print(
                f"  {name}: {report.score:g}/{report.max_score:g}"
                + (f" (+ {report.manual_points:g} by hand)" if report.manual_points else "")
            )
    return 0


def write_csv(path: Path, reports: dict) -> None:
    """One row per item, then the notebook's total (item ``total``), so a spreadsheet can sum or filter."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["notebook", "assignment", "item", "points", "max_points", "manual", "feedback"])
    for name, report in reports.items():
        for item in report.items:
            writer.writerow([name, report.title, item.name, item.points, item.max_points, item.manual, item.feedback])
        writer.writerow([name, report.title, "total", report.score, report.max_score, False, "; ".join(report.notes)])
    write_text_atomic(path, buffer.getvalue())


if __name__ == "__main__":
    sys.exit(main())

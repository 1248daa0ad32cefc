"""Grade submitted assignment notebooks: ``python -m lpips_edu.grading NOTEBOOK... [--json F] [--csv F]``.

Every notebook runs in a fresh kernel (errors allowed) under the ``cpu``
profile unless ``--profile`` says otherwise (under ``smoke`` assignment 3's
accuracy bar and assignment 5's held-out bar are not judged: smoke runs are too short to learn);
the report of each is printed,
and ``--json`` / ``--csv`` collect all of them (one CSV row per item) for a
class. The exit status is 0 whatever the scores: a low score is a result,
not an error.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .notebook import grade_notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lpips_edu.grading", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", default="cpu",
                        help="run size for every notebook: cpu (default), smoke, gpu, or 'keep' for the notebook's own")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--json", type=Path, help="write every report to this JSON file")
    parser.add_argument("--csv", type=Path, help="write one row per graded item to this CSV file")
    parser.add_argument("--executed-dir", type=Path, help="keep the executed notebooks in this folder")
    args = parser.parse_args(argv)

    reports = {}
    for path in args.notebooks:
        executed = None
        if args.executed_dir:
            args.executed_dir.mkdir(parents=True, exist_ok=True)
            executed = args.executed_dir / path.name
        report = grade_notebook(path, profile=None if args.profile == "keep" else args.profile,
                                timeout=args.timeout, executed_path=executed)
        reports[str(path)] = report
        print(report, end="\n\n", flush=True)

    if args.json:
        args.json.write_text(json.dumps({p: r.to_dict() for p, r in reports.items()}, indent=1))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["notebook", "assignment", "item", "points", "max_points", "manual", "feedback"])
            for path, report in reports.items():
                for item in report.items:
                    writer.writerow(
                        [path, report.title, item.name, item.points, item.max_points, item.manual, item.feedback]
                    )
    if len(reports) > 1:
        print("summary:")
        for path, report in reports.items():
            print(
                f"  {path}: {report.score:g}/{report.max_score:g}"
                + (f" (+ {report.manual_points:g} by hand)" if report.manual_points else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long grading one submission of each assignment takes, per profile (the numbers on the instructors' page).

Each solution notebook (``assignments/source``) and each untouched student
notebook (``assignments/student``) is graded with ``lpips_edu.grading``'s
``grade_notebook``, as ``python -m lpips_edu.grading`` grades a class: a fresh
kernel, every cell run top to bottom, then the checks. The time includes
kernel start-up and imports; the score is printed beside it, so that a
fast row that scored nothing is seen for what it is. The load average is
printed with every run: on a shared machine it explains slow rows.

    flock /tmp/lpips-edu-bench.lock python benchmarks/assignment_times.py --profiles smoke cpu
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from lpips_edu.analysis import describe_machine, machine_line
from lpips_edu.grading import grade_notebook

ASSIGNMENTS = Path(__file__).resolve().parents[1] / "assignments"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke", "cpu"])
    parser.add_argument("--versions", nargs="+", default=["source", "student"], choices=["source", "student"],
                        help="grade the solutions (source), the untouched student notebooks, or both")
    parser.add_argument("notebooks", nargs="*", help="file names in assignments/source (default: all)")
    args = parser.parse_args()
    names = args.notebooks or sorted(p.name for p in (ASSIGNMENTS / "source").glob("*.ipynb"))
    print("machine:", machine_line(describe_machine("cpu")))
    print("| assignment | notebook | profile | seconds to grade | score | load average before |")
    print("| --- | --- | --- | --- | --- | --- |")
    for profile in args.profiles:
        for name in names:
            for version in args.versions:
                load = os.getloadavg()[0]
                start = time.perf_counter()
                report = grade_notebook(ASSIGNMENTS / version / name, profile=profile)
                seconds = time.perf_counter() - start
                what = "solution" if version == "source" else "untouched"
                print(f"| {Path(name).stem} | {what} | {profile} | {seconds:.0f} | "
                      f"{report.score:g}/{report.max_score:g} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()

"""How long each assignment's solution notebook takes to run, per profile (the numbers on the instructors' page).

Each source notebook is executed top to bottom in a fresh kernel with papermill,
as a student's "run all" would; the time includes kernel start-up and imports.
The load average is printed with every run: on a shared machine it explains slow rows.

    flock /tmp/lpips-edu-bench.lock python benchmarks/assignment_times.py --profiles smoke cpu
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import papermill

from lpips_edu.analysis import describe_machine, machine_line

SOURCES = Path(__file__).resolve().parents[1] / "assignments" / "source"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke", "cpu"])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    notebooks = args.notebooks or sorted(SOURCES.glob("*.ipynb"))
    print("machine:", machine_line(describe_machine("cpu")))
    print("| assignment | profile | seconds | load average before |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for profile in args.profiles:
            for path in notebooks:
                load = os.getloadavg()[0]
                start = time.perf_counter()
                papermill.execute_notebook(str(path), str(Path(tmp) / path.name), parameters={"profile": profile},
                                           cwd=str(path.parent), kernel_name="python3", progress_bar=False)
                print(f"| {path.stem} | {profile} | {time.perf_counter() - start:.0f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()

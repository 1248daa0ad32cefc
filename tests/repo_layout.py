"""Where things are in the repository, for the tests that check the book and the notebooks.

(Not in conftest.py: notebooks/ has a conftest.py of its own, and two modules
both imported as ``conftest`` would shadow each other.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# The built book; LPIPS_EDU_BOOK_DIR points the built-book checks at another build (e.g. a damaged copy).
BUILD = Path(os.environ.get("LPIPS_EDU_BOOK_DIR", REPO / "_build"))
# The instructor edition (make instructor-book): jupyter-book's --path-output puts its _build there.
INSTRUCTOR_BUILD = Path(os.environ.get("LPIPS_EDU_INSTRUCTOR_BOOK_DIR", REPO / "_build" / "instructor" / "_build"))
INSTRUCTOR_TOC = REPO / "_toc_instructor.yml"
# The published book shows the student versions of the assignments, not executed (they stop at the
# first # YOUR CODE HERE); the instructor edition executes the sources.
STUDENT_PAGES = "assignments/student/"

# Notebook code that reaches a decision of lpips_edu.hardware (16-bit arithmetic on the CPU) under
# the smoke profile: these chapters run once per forced path in the tests (test_notebooks.py).
HARDWARE_BRANCH = re.compile(r"training_throughput\(|\.efficiency\(|efficiency_table\(|lpips_edu\.hardware")


def toc_pages(toc_file: Path = REPO / "_toc.yml") -> list[str]:
    """Every page of the book (or of another table of contents), in reading order, without suffix."""
    toc = yaml.safe_load(toc_file.read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def toc_notebooks(toc_file: Path = REPO / "_toc.yml") -> list[str]:
    """The pages of the book that are executed notebooks (the student assignments are shown, not run)."""
    return [page for page in toc_pages(toc_file)
            if (REPO / f"{page}.ipynb").exists() and not page.startswith(STUDENT_PAGES)]


def student_pages() -> list[str]:
    """The student versions of the assignments that the published book shows."""
    return [page for page in toc_pages() if page.startswith(STUDENT_PAGES)]


def hardware_branching(notebooks: list[Path]) -> list[Path]:
    """The notebooks whose code takes a hardware-dependent path (see HARDWARE_BRANCH)."""
    return [nb for nb in notebooks if HARDWARE_BRANCH.search(nb.read_text(encoding="utf-8"))]

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

# Notebook code that reaches a decision of lpips_edu.hardware (16-bit arithmetic on the CPU) under
# the smoke profile: these chapters run once per forced path in the tests (test_notebooks.py).
HARDWARE_BRANCH = re.compile(r"training_throughput\(|\.efficiency\(|efficiency_table\(|lpips_edu\.hardware")


def toc_pages() -> list[str]:
    """Every page of the book, in reading order (``_toc.yml``), without suffix."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def toc_notebooks() -> list[str]:
    """The pages of the book that are executed notebooks."""
    return [page for page in toc_pages() if (REPO / f"{page}.ipynb").exists()]


def hardware_branching(notebooks: list[Path]) -> list[Path]:
    """The notebooks whose code takes a hardware-dependent path (see HARDWARE_BRANCH)."""
    return [nb for nb in notebooks if HARDWARE_BRANCH.search(nb.read_text(encoding="utf-8"))]

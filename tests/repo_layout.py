"""Where things are in the repository, for the tests that check the book and the notebooks.

(Not in conftest.py: notebooks/ has a conftest.py of its own, and two modules
both imported as ``conftest`` would shadow each other.)
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

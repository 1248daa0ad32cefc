"""pytest settings for the notebooks folder (nbval runs with ``--nbval-lax``).

tests/test_notebooks.py already executes every notebook with papermill, so
nbval only re-runs the notebooks that have cells marked ``# NBVAL_CHECK_OUTPUT``:
for the others a second run would check nothing new and cost minutes.
"""

from __future__ import annotations

import os

from lpips_edu.booktools.notebook_hygiene import CHECK_MARKER

# Kernels inherit the environment: nbval runs the notebooks under the smoke profile too.
os.environ["LPIPS_EDU_PROFILE"] = "smoke"


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb":
        return CHECK_MARKER not in collection_path.read_text(encoding="utf-8")
    return None


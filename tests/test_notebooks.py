"""Every chapter runs top to bottom in a fresh kernel under the smoke profile (papermill),
and what it shows is readable in the book: figures carry alt text, long outputs scroll.

nbval (``--nbval-lax``, configured in pyproject.toml) runs the notebooks a
second time and compares the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

from __future__ import annotations

import nbformat
import papermill
import pytest

from page_checks import reading_problems
from repo_layout import NOTEBOOKS


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_smoke_profile(notebook, tmp_path):
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        parameters={"profile": "smoke"},
        cwd=str(notebook.parent),
        kernel_name="python3",
        execution_timeout=300,
        progress_bar=False,
    )
    problems = reading_problems(nbformat.read(tmp_path / notebook.name, as_version=4))
    assert not problems, "\n".join(problems)

"""Every chapter runs top to bottom in a fresh kernel under the smoke profile (papermill),
and what it shows is readable in the book: figures carry alt text, long outputs scroll.

nbval (``--nbval-lax``, configured in pyproject.toml) runs the notebooks a
second time and compares the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

from __future__ import annotations

import nbformat
import papermill
import pytest

from repo_layout import NOTEBOOKS

LONG_OUTPUT_LINES = 20  # under the smoke profile; the cpu profile's outputs are longer still


def _output_lines(cell) -> int:
    """Lines of text a reader scrolls past: streams, plain-text results and HTML table rows."""
    lines = 0
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            lines += out.get("text", "").count("\n")
        elif "text/html" in data:
            lines += data["text/html"].count("<tr")
        elif "text/plain" in data and "image/png" not in data:
            lines += data["text/plain"].count("\n")
    return lines


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
    executed = nbformat.read(tmp_path / notebook.name, as_version=4)
    undescribed = [
        index for index, cell in enumerate(executed.cells)
        if cell.cell_type == "code"
        and any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
        and not cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
    ]
    long_outputs = [
        index for index, cell in enumerate(executed.cells)
        if cell.cell_type == "code" and _output_lines(cell) > LONG_OUTPUT_LINES
        and not {"scroll-output", "hide-output", "output_scroll"} & set(cell.metadata.get("tags", []))
    ]
    assert not long_outputs, f"code cells {long_outputs} print long outputs: tag them scroll-output (or hide-output)"
    assert not undescribed, (
        f"code cells {undescribed} draw figures without alt text: set the cell metadata "
        '{"mystnb": {"image": {"alt": "..."}}} (and a "figure": {"caption": ...} for a single-figure cell)'
    )

"""Every chapter runs top to bottom in a fresh kernel under the smoke profile (papermill),
and what it shows is readable in the book: figures carry alt text, long outputs scroll.

A chapter whose code takes a hardware-dependent path (16-bit arithmetic on the
CPU, ``lpips_edu.hardware``) runs once per path instead, with the path forced
through ``LPIPS_EDU_CPU_BF16`` / ``LPIPS_EDU_CPU_FP16``: whatever CPU the tests
run on, both the portable path (most laptops) and the native-bf16 path run.

nbval (``--nbval-lax``, configured in pyproject.toml) runs the notebooks a
second time and compares the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

from __future__ import annotations

import nbformat
import papermill
import pytest
from page_checks import reading_problems
from repo_layout import NOTEBOOKS, hardware_branching

BRANCHING = hardware_branching(NOTEBOOKS)
PORTABLE = [nb for nb in NOTEBOOKS if nb not in BRANCHING]
FORCED_PATHS = {"float32-path": "0", "16-bit-path": "1"}


def run_under_smoke(notebook, tmp_path):
    """Execute a chapter under the smoke profile; the executed copy, checked for readability."""
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
    problems = reading_problems(executed)
    assert not problems, "\n".join(problems)
    return executed


def printed_text(executed) -> str:
    """Everything the code cells printed, with line breaks and runs of spaces folded to one space."""
    text = " ".join(out.get("text", "") + out.get("data", {}).get("text/plain", "")
                    for cell in executed.cells if cell.cell_type == "code" for out in cell.get("outputs", []))
    return " ".join(text.split())


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", PORTABLE, ids=[p.stem for p in PORTABLE])
def test_notebook_runs_under_smoke_profile(notebook, tmp_path):
    run_under_smoke(notebook, tmp_path)


@pytest.mark.notebooks
@pytest.mark.parametrize("forced", FORCED_PATHS.values(), ids=FORCED_PATHS.keys())
@pytest.mark.parametrize("notebook", BRANCHING, ids=[p.stem for p in BRANCHING])
def test_hardware_dependent_notebook_runs_on_both_paths(notebook, forced, tmp_path, monkeypatch):
    # papermill's kernel inherits this process's environment
    monkeypatch.setenv("LPIPS_EDU_CPU_BF16", forced)
    monkeypatch.setenv("LPIPS_EDU_CPU_FP16", forced)
    text = printed_text(run_under_smoke(notebook, tmp_path))
    if forced == "0":
        assert "bf16 skipped: LPIPS_EDU_CPU_BF16=0 forces the float32 path" in text, "the page must say what it skipped"
    else:
        assert "skipped:" not in text and "bf16 on (LPIPS_EDU_CPU_BF16=1)" in text


def test_the_hardware_dependent_chapters_are_recognised():
    assert {"03b_training_squeezenet", "09_deployment"} <= {p.stem for p in BRANCHING}
    assert "01_alexnet" not in {p.stem for p in BRANCHING}

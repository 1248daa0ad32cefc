"""Grading a submitted notebook: run it in a fresh kernel, errors allowed, then check its namespace.

A submission is judged on what its cells do when run top to bottom, not on
the outputs stored in the file (those may be stale or edited). Cells that
raise do not stop the run (nbclient's ``allow_errors``): an unfinished
exercise costs that exercise's points, not the whole assignment. A last,
added cell runs the checks in the same kernel and prints the report as JSON.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat

from .assignments import grade_namespace
from .report import Report

MARKER = "LPIPS_EDU_GRADING_REPORT:"
GRADING_CELL = """\
import json as _lpips_edu_json
from lpips_edu.grading import grade_namespace as _lpips_edu_grade
print({marker!r} + _lpips_edu_json.dumps(_lpips_edu_grade({assignment!r}, globals()).to_dict()))
"""


def assignment_of(nb, path: Path) -> str:
    """The assignment id stored in the notebook's metadata (``lpips_edu.assignment``), else from its file name."""
    stored = nb.metadata.get("lpips_edu", {}).get("assignment")
    if stored:
        return stored
    match = re.match(r"(a\d+)_", path.name)
    if not match:
        raise ValueError(f"{path} is not an assignment notebook: no lpips_edu.assignment metadata and no aN_ prefix")
    return match.group(1)


def inject_parameters(nb, parameters: dict) -> int | None:
    """Add a cell after the ``parameters`` cell that overrides them (what papermill does); returns its index."""
    if not parameters:
        return None
    source = "# Injected by the grader\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1)
    nb.cells.insert(index + 1, cell)
    return index + 1


def _errors(cells, timeout: int) -> list[str]:
    """'cell 7 raised NotImplementedError: ...' for every cell of the submitted notebook that raised.

    The grader interrupts a cell that runs past ``timeout`` (nbclient's
    ``interrupt_on_timeout``), which shows up as a KeyboardInterrupt: said so.
    """
    notes = []
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt":
                notes.append(f"cell {i} was interrupted after {timeout} s, the grader's limit per cell (--timeout); "
                             "the cells after it ran")
            elif out.get("output_type") == "error":
                first = str(out.get("evalue", "")).strip().splitlines()[:1]
                notes.append(f"cell {i} raised {out['ename']}" + (f": {first[0][:160]}" if first else ""))
    return notes


def _unreadable(path: Path, assignment: str | None, exc: Exception) -> Report:
    """0 points out of the assignment's maximum (when known) for a file that is not a notebook."""
    if assignment is None:
        match = re.match(r"(a\d+)_", path.name)
        assignment = match.group(1) if match else None
    reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    note = (f"could not read {path.name} as a notebook ({type(exc).__name__}: {reason}); "
            "ask for the .ipynb file as Jupyter saved it")
    if assignment is None:
        note += "; pass --assignment aN to score it 0 out of that assignment's points"
        return Report(f"unknown assignment [{path.name}]", notes=[note])
    report = grade_namespace(assignment, {})
    report.title = f"{report.title} [{path.name}]"
    report.notes = [note]
    return report


def grade_notebook(path: str | os.PathLike, profile: str | None = "cpu", timeout: int = 600,
                   kernel_name: str = "python3", executed_path: str | os.PathLike | None = None,
                   assignment: str | None = None) -> Report:
    """Execute ``path`` in a fresh kernel (errors allowed) and grade it; never raises for a broken submission.

    ``profile`` overrides the notebook's run size (None keeps the notebook's own
    ``profile`` parameter); ``timeout`` is per cell, in seconds (a cell that runs
    longer is interrupted and the rest run); ``executed_path`` saves the executed
    notebook for inspection; ``assignment`` ("a1" ...) overrides the one the
    notebook names (its metadata, else its file name).
    """
    from nbclient import NotebookClient

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook, unreadable: a result for this student, not a crash
        return _unreadable(path, assignment, exc)
    assignment = assignment or assignment_of(nb, path)
    injected = inject_parameters(nb, {"profile": profile} if profile else {})
    nb.cells.append(nbformat.v4.new_code_cell(GRADING_CELL.format(marker=MARKER, assignment=assignment)))
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                            interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    failure = None
    try:
        client.execute()
    except Exception as exc:  # a timeout or a dead kernel: report it, grade nothing
        last_line = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ""
        failure = f"the notebook did not finish: {type(exc).__name__}: {last_line}"
    if executed_path is not None:
        nbformat.write(nb, str(executed_path))
    report = None
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        for line in text.splitlines():
            if line.startswith(MARKER):
                report = Report.from_dict(json.loads(line[len(MARKER) :]))
    submitted = [c for i, c in enumerate(nb.cells[:-1]) if i != injected]  # the cells as the student numbered them
    notes = _errors(submitted, timeout)
    if report is None:  # the kernel died or timed out: every exercise scores 0, with the same maximum
        report = grade_namespace(assignment, {})
        notes.append(failure or "the grading cell printed no report (keep the executed notebook with --executed-dir)")
    report.title = f"{report.title} [{path.name}]"
    report.notes = notes
    return report

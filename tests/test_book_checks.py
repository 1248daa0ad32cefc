"""The checks a built book must pass (book_checks.py, lpips_edu.booktools.time_budget), each failing on a bad page."""

from __future__ import annotations

import nbformat
import pytest
from book_checks import output_problems, report_problems
from repo_layout import INSTRUCTOR_TOC, REPO, toc_notebooks

from lpips_edu.booktools import time_budget

CELL = ('<div class="cell docutils container">\n<div class="cell_input docutils container">\n'
        '<pre>print(1)</pre></div>\n{output}</div>\n')
OUTPUT = '<div class="cell_output docutils container">\n<pre>1</pre></div>\n'


def test_a_chapter_that_lost_its_outputs_is_caught():
    executed = "<h1>Chapter</h1>" + CELL.format(output=OUTPUT) + CELL.format(output="")
    lost = "<h1>Chapter</h1>" + CELL.format(output="") * 2
    assert output_problems("notebooks/x", executed) == []
    assert output_problems("notebooks/x", "<h1>Prose only</h1><p>text</p>") == []
    [problem] = output_problems("notebooks/x", lost)
    assert "2 code cells and not one output" in problem


def test_an_execution_error_report_is_caught(tmp_path):
    assert report_problems(tmp_path) == []
    report = tmp_path / "reports" / "notebooks" / "03b_training_squeezenet.err.log"
    report.parent.mkdir(parents=True)
    report.write_text("Traceback ...\nCellTimeoutError: A cell timed out while it was being executed\n")
    [problem] = report_problems(tmp_path)
    assert "03b_training_squeezenet.err.log" in problem and "CellTimeoutError" in problem


def record(profile="cpu", **seconds):
    pages = {page: {"seconds": 60 * minutes * 0.8, "succeeded": True, "error": None,
                    "budget_minutes": minutes} for page, minutes in time_budget.PAGE_MINUTES.items()}
    for page, value in seconds.items():
        pages[f"notebooks/{page}"]["seconds"] = value
    return {"profile": profile, "machine": {}, "book_budget_minutes": time_budget.BOOK_MINUTES, "pages": pages}


def test_budget_check_passes_a_build_within_budget_and_names_each_overrun():
    assert time_budget.budget_problems(record()) == []
    slow = record(**{"01b_training_alexnet": 60 * time_budget.PAGE_MINUTES["notebooks/01b_training_alexnet"] * 1.6})
    [problem] = time_budget.budget_problems(slow)
    assert problem.startswith("notebooks/01b_training_alexnet: took") and "make its cpu-profile run smaller" in problem
    failed = record()
    failed["pages"]["notebooks/09_deployment"].update(succeeded=False, error="CellTimeoutError")
    assert time_budget.budget_problems(failed) == ["notebooks/09_deployment: execution failed (CellTimeoutError)"]
    missing = record()
    del missing["pages"]["notebooks/00_data"]
    assert any("00_data: executed in no recorded build" in p for p in time_budget.budget_problems(missing))
    assert "| **total** |" in time_budget.timings_table(slow) and "over budget" in time_budget.timings_table(slow)


def test_the_book_total_is_held_to_its_budget(monkeypatch):
    monkeypatch.setattr(time_budget, "PAGE_TOLERANCE", 10.0)  # every page within its own allowance
    everything_slow = record(**{p.split("/")[-1]: 60 * m * 1.4 for p, m in time_budget.PAGE_MINUTES.items()
                                if p.startswith("notebooks/")})
    assert any(p.startswith("the book took") for p in time_budget.budget_problems(everything_slow))


def test_smoke_and_gpu_builds_are_checked_for_failures_only():
    assert time_budget.budget_problems(record("smoke", **{"02b_training_vgg": 3600.0})) == []


def test_every_executed_page_has_a_budget_and_the_budgets_fit_the_book():
    pages = toc_notebooks()
    assert sorted(time_budget.PAGE_MINUTES) == sorted(pages)
    assert sum(time_budget.PAGE_MINUTES.values()) <= time_budget.BOOK_MINUTES
    assert sorted(time_budget.ASSIGNMENT_MINUTES) == sorted(toc_notebooks(INSTRUCTOR_TOC))
    assert sum(time_budget.ASSIGNMENT_MINUTES.values()) <= time_budget.INSTRUCTOR_BOOK_MINUTES


def test_the_instructor_edition_is_held_to_its_own_budgets():
    pages = {page: {"seconds": 60 * minutes * 0.8, "succeeded": True} for page, minutes
             in time_budget.ASSIGNMENT_MINUTES.items()}
    record = {"profile": "cpu", "pages": pages}
    budgets = dict(budgets=time_budget.ASSIGNMENT_MINUTES, book_minutes=time_budget.INSTRUCTOR_BOOK_MINUTES)
    assert time_budget.budget_problems(record, **budgets) == []
    assert any("no budget" in p for p in time_budget.budget_problems(record))  # not the published book's pages
    page = next(iter(pages))
    pages[page]["seconds"] = 60 * time_budget.ASSIGNMENT_MINUTES[page] * 3 + 60
    [problem] = time_budget.budget_problems(record, **budgets)
    assert problem.startswith(f"{page}: took")


def test_a_student_page_that_shows_a_solution_is_caught():
    from book_checks import page_text, solution_problems

    solutions = ["return (size + 2 * padding - kernel) // stride + 1"]
    leaked = page_text('<pre><span class="k">return</span> <span class="p">(</span>size <span class="o">+</span> '
                       '2 <span class="o">*</span> padding - kernel) // stride + 1</pre>')
    [problem] = solution_problems("assignments/student/a1", leaked, solutions)
    assert "shows the solution line" in problem
    clean = page_text("<pre># YOUR CODE HERE\nraise NotImplementedError()</pre>")
    assert solution_problems("assignments/student/a1", clean, solutions) == []
    assert solution_problems("a1", "### BEGIN SOLUTION", [])  # a marker that survived


@pytest.mark.parametrize("page", toc_notebooks() + toc_notebooks(INSTRUCTOR_TOC))
def test_each_chapter_states_its_run_time(page):
    notebook = nbformat.read(REPO / f"{page}.ipynb", as_version=4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert time_budget.run_time_sentence(page) in prose, f"state under the goal: {time_budget.run_time_sentence(page)}"


def test_a_page_with_machine_paths_or_lab_notes_is_caught():
    from book_checks import page_text, reader_problems

    html = ("<p>weights from /root/.cache/lpips_edu/alexnet.safetensors and "
            "/work/main/.venv/lib/python3.11/site-packages/lpips/weights/v0.1/alex.pth</p>"
            "<script>var x = '/tmp/never-shown';</script>"
            "<p>tests/test_browser.py: headless Chromium, four runs while other jobs kept both cores busy</p>"
            "<pre>flock /tmp/lpips-edu-bench.lock python benchmarks/folder_speed.py</pre><p>built on buildhost7</p>")
    problems = reader_problems("page", page_text(html), names=("buildhost7",))
    found = " ".join(problems)
    for expected in ("/root/.cache", "/work/main", "site-packages", "tests/test_browser.py", "headless Chromium",
                     "flock", "buildhost7"):
        assert expected in found, expected
    assert "/tmp/never-shown" not in found  # scripts are not text
    clean = page_text("<p>Run <code>python -m lpips_edu weights fetch</code>; the files go to ~/.cache/lpips_edu "
                      "(<code>$LPIPS_EDU_CACHE</code>), or <code>-o shared/scores.csv</code>.</p>")
    assert reader_problems("page", clean, names=("buildhost7",)) == []

"""The built books, checked from their files: every chapter executed, showed its outputs, kept its time budget,
no page speaks of the machine that built it, no student page shows a solution, and the instructor edition
ran every solution.

Needs a built book (``make book``, ``make instructor-book``); skipped without one, unless
``LPIPS_EDU_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
``LPIPS_EDU_BOOK_DIR`` and ``LPIPS_EDU_INSTRUCTOR_BOOK_DIR`` point the checks at other build folders.
"""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from book_checks import output_problems, page_text, reader_problems, report_problems, solution_problems
from repo_layout import BUILD, INSTRUCTOR_BUILD, INSTRUCTOR_TOC, REPO, student_pages, toc_notebooks, toc_pages

from lpips_edu.booktools import time_budget
from lpips_edu.booktools.assignment_release import solution_lines
from lpips_edu.booktools.time_budget import budget_problems, timings_table

HTML = BUILD / "html"
REQUIRED = os.environ.get("LPIPS_EDU_REQUIRE_BROWSER") == "1"


def _built(html, command):
    if not (html / "index.html").exists():
        if REQUIRED:
            pytest.fail(f"no book built in {html.parent}: run `{command}` first (LPIPS_EDU_REQUIRE_BROWSER=1)")
        pytest.skip(f"no book built in {html.parent}: run `{command}` first")
    return html


@pytest.fixture(scope="module")
def built():
    return _built(HTML, "make book")


@pytest.fixture(scope="module")
def instructor_built():
    return _built(INSTRUCTOR_BUILD / "html", "make instructor-book")


def _solutions(page: str) -> list[str]:
    source = page.replace("assignments/student/", "assignments/source/")
    return solution_lines(nbformat.read(REPO / f"{source}.ipynb", as_version=4))


def test_no_chapter_left_an_execution_error_report(built):
    problems = report_problems(built)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", toc_notebooks())
def test_every_executed_chapter_shows_its_outputs(built, page):
    html = (built / f"{page}.html").read_text(encoding="utf-8")
    problems = output_problems(page, html)
    assert not problems, "\n".join(problems)


def test_execution_times_are_recorded_and_within_budget(built):
    path = BUILD / "timings.json"
    assert path.exists(), f"{path} is missing: book/_ext/execution_timings.py writes it at the end of `make book`"
    record = json.loads(path.read_text(encoding="utf-8"))
    missing = [page for page in toc_notebooks() if page not in record["pages"]]
    assert not missing, f"pages with no recorded execution: {missing}"
    problems = budget_problems(record)
    assert not problems, "\n".join(problems) + "\n\n" + timings_table(record)


def _machine_names() -> tuple[str, ...]:
    import getpass
    import socket

    names = {socket.gethostname().split(".")[0]}
    try:
        names.add(getpass.getuser())
    except (KeyError, OSError):
        pass
    return tuple(n for n in names if n not in ("root", "localhost"))  # "root" is a word; /root paths are caught


@pytest.mark.parametrize("page", [p for p in toc_pages()])
def test_no_page_shows_machine_paths_names_or_lab_notes(built, page):
    html = (built / f"{page}.html").read_text(encoding="utf-8")
    problems = reader_problems(page, page_text(html), _machine_names())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", student_pages())
def test_no_student_page_shows_a_solution(built, page):
    """Not even behind a toggle: the HTML of a published assignment holds no line only its solution has."""
    html = (built / f"{page}.html").read_text(encoding="utf-8")
    problems = solution_problems(page, page_text(html), _solutions(page))
    assert not problems, "\n".join(problems)
    assert "# YOUR CODE HERE" in page_text(html)


def test_the_instructor_edition_ran_every_solution_within_its_budget(instructor_built):
    assert not report_problems(instructor_built), "\n".join(report_problems(instructor_built))
    pages = toc_notebooks(INSTRUCTOR_TOC)
    for page in pages:
        html = (instructor_built / f"{page}.html").read_text(encoding="utf-8")
        assert not output_problems(page, html), output_problems(page, html)
        assert solution_problems(page, page_text(html), _solutions(page)), f"{page} shows no solution"
        assert not reader_problems(page, page_text(html), _machine_names()), page
    record = json.loads((INSTRUCTOR_BUILD / "timings.json").read_text(encoding="utf-8"))
    assert record.get("edition") == "instructor" and sorted(record["pages"]) == sorted(pages)
    problems = budget_problems(record, time_budget.ASSIGNMENT_MINUTES, time_budget.INSTRUCTOR_BOOK_MINUTES)
    assert not problems, "\n".join(problems) + "\n\n" + timings_table(record)

"""The built book, checked from its files: every chapter executed, showed its outputs, kept its time budget,
and no page speaks of the machine that built it.

Needs a built book (``make book``); skipped without one, unless
``LPIPS_EDU_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
``LPIPS_EDU_BOOK_DIR`` points the checks at another build folder.
"""

from __future__ import annotations

import json
import os

import pytest
from book_checks import output_problems, page_text, reader_problems, report_problems
from repo_layout import BUILD, toc_notebooks, toc_pages

from lpips_edu.booktools.time_budget import budget_problems, timings_table

HTML = BUILD / "html"
REQUIRED = os.environ.get("LPIPS_EDU_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def built():
    if not (HTML / "index.html").exists():
        if REQUIRED:
            pytest.fail(f"the book is not built in {BUILD}: run `make book` first (LPIPS_EDU_REQUIRE_BROWSER=1)")
        pytest.skip(f"the book is not built in {BUILD}: run `make book` first")
    return HTML


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

"""Record how long every executed page took, so that a slow or failed chapter is visible.

myst-nb keeps, per executed notebook, its run time and whether it succeeded.
When the build finishes this writes them, with the profile, the machine and each
page's time budget (``lpips_edu.booktools.time_budget``), to ``_build/timings.json`` and a
readable ``_build/timings.md``, and prints the table in the build log.
``tests/test_built_book.py`` holds the recorded times to the budget.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _machine() -> dict:
    from lpips_edu.analysis.machine import cpu_model
    from lpips_edu.hardware import cpu_has_fast_bf16, describe_cpu_precisions

    return {"cpu": cpu_model(), "cpu_cores": os.cpu_count() or 0, "native_bf16": cpu_has_fast_bf16(),
            "precisions": describe_cpu_precisions(), "python": platform.python_version()}


def _write_timings(app: Sphinx, exception: Exception | None) -> None:
    from lpips_edu.booktools import time_budget
    from lpips_edu.io import write_text_atomic
    from lpips_edu.profiles import resolve_profile_name

    pages = {}
    for docname, data in sorted(getattr(app.env, "nb_metadata", {}).items()):
        run = data.get("exec_data")
        if run:
            pages[docname] = {"seconds": run.get("runtime"), "succeeded": bool(run.get("succeeded")),
                              "error": run.get("error"), "executed_at": run.get("mtime"),
                              "budget_minutes": time_budget.page_minutes(docname)}
    # make instructor-book builds with _toc_instructor.yml: the assignments with their solutions only
    instructor = "instructor" in Path(str(getattr(app.config, "external_toc_path", "") or "")).name
    budget = time_budget.INSTRUCTOR_BOOK_MINUTES if instructor else time_budget.BOOK_MINUTES
    record = {"profile": resolve_profile_name(), "finished_at": time.time(), "machine": _machine(),
              "edition": "instructor" if instructor else "book", "book_budget_minutes": budget, "pages": pages}
    out = Path(app.outdir).parent
    out.mkdir(parents=True, exist_ok=True)
    text = time_budget.timings_table(record)
    write_text_atomic(out / "timings.json", json.dumps(record, indent=1) + "\n")
    write_text_atomic(out / "timings.md", text + "\n")
    logger.info("execution times (also in %s):\n%s", out / "timings.md", text)


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _write_timings)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

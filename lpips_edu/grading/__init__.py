"""Checks for the course assignments: specific feedback and a score, never a crash.

Inside an assignment notebook, each exercise is followed by a check cell::

    from lpips_edu.grading import a1_architecture as checks
    checks.check_alexnet2012(globals())

which prints what is right, what is wrong and why. To grade submissions, run
every notebook in a fresh kernel and collect the reports::

    python -m lpips_edu.grading submissions/*.ipynb --json grades.json --csv grades.csv

One module per assignment (``a1_architecture``, ``a2_lpips``, ``a3_training``,
``a4_tradeoff``, ``a5_calibration``, ``a6_attack``), the report type in ``report``, safe calling of student code
in ``attempt``, the list of assignments in ``assignments`` and notebook execution
in ``notebook``.
"""

from __future__ import annotations

from .assignments import ASSIGNMENTS, grade_namespace
from .report import Item, Report


def __getattr__(name: str):
    # grade_notebook pulls in nbclient; import it only when asked for.
    if name == "grade_notebook":
        from .notebook import grade_notebook

        return grade_notebook
    raise AttributeError(name)


__all__ = ["ASSIGNMENTS", "Item", "Report", "grade_namespace", "grade_notebook"]

"""Build-time tools: notebook hygiene, the student release of the assignments, the book's time budget.

* ``notebook_hygiene``: notebooks stored without outputs (``make clean-notebooks``);
* ``assignment_release``: student versions built from the solutions' source (``make assignments``);
* ``time_budget``: what each page may take under the ``cpu`` profile, checked on every build.
"""

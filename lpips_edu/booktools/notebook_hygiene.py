"""Notebook hygiene: notebooks are stored without outputs.

The one exception is a cell whose output is a deterministic fact (a parameter
count, a shape): it starts with the nbval marker ``# NBVAL_CHECK_OUTPUT``,
keeps its stored output, and nbval checks that a fresh run reproduces it.

    python -m lpips_edu.booktools.notebook_hygiene strip notebooks/*.ipynb     # drop outputs
    python -m lpips_edu.booktools.notebook_hygiene refresh notebooks/*.ipynb   # re-run (smoke) and keep checked outputs
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nbformat

from ..io import atomic_open

CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    """True for a code cell whose output nbval compares (and which may keep outputs)."""
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK_MARKER)


def strip_notebook(nb, keep_checked: bool = True):
    """Remove outputs, execution counts and run metadata, except outputs of checked cells."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for key in ("execution", "papermill"):
            cell.metadata.pop(key, None)
        if keep_checked and is_checked(cell):
            continue
        cell.outputs = []
        cell.execution_count = None
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    return nb


def write_atomic(nb, path: Path) -> None:
    """Write a notebook through a temporary file so an interrupted write never truncates it."""
    with atomic_open(path, "w") as f:
        nbformat.write(nb, f)


def refresh(path: Path, timeout: int = 600) -> None:
    """Execute under the smoke profile, then keep only the outputs of checked cells."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("LPIPS_EDU_PROFILE", "smoke")
    NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        if is_checked(cell):
            # Execution counts differ between runs; nbval compares outputs only.
            cell.execution_count = None
            for out in cell.outputs:
                out.pop("execution_count", None)
    write_atomic(strip_notebook(nb), path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["strip", "refresh"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if args.action == "strip":
            write_atomic(strip_notebook(nbformat.read(path, as_version=4)), path)
        else:
            refresh(path)
        print(f"{args.action}: {path}")


if __name__ == "__main__":
    main()

"""Rules of the house that a reviewer would otherwise check by hand."""

from __future__ import annotations

import re

import nbformat
import pytest
import tomllib
import yaml
from repo_layout import NOTEBOOKS, REPO

from lpips_edu.booktools.notebook_hygiene import is_checked


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not is_checked(cell):
            assert not cell.outputs, f"{notebook.name} cell {i} has outputs; run `make clean-notebooks`"
            assert cell.execution_count is None, f"{notebook.name} cell {i} has an execution count"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_code_cell_is_the_papermill_parameters_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), notebook.name
    assert re.search(r'^profile\s*=\s*"auto"', first.source, re.M), "the parameters cell sets profile = 'auto'"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_has_title_summary_and_exercises(notebook):
    nb = nbformat.read(notebook, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "## What we learned" in markdown, f"{notebook.name} needs a '## What we learned' summary"
    assert "## Exercises" in markdown, f"{notebook.name} needs an '## Exercises' section"


def test_every_notebook_is_in_the_table_of_contents():
    toc = (REPO / "_toc.yml").read_text()
    for notebook in NOTEBOOKS:
        assert f"notebooks/{notebook.stem}" in toc, f"{notebook.name} is missing from _toc.yml"


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    out = {}
    for r in requirements:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", r.strip())
        out[m.group(1).lower().replace("_", "-")] = m.group(3).replace(" ", "")
    return out


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += [r for r in extra if not r.startswith("lpips-edu")]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pip = {k: v for k, v in _requirement_names([p for p in pip_section if not p.startswith("-e")]).items()}
    assert conda_pip == _requirement_names(wanted)


def test_jupyter_book_is_pinned_below_2():
    # 2.x downloads its theme at build time, which breaks the offline build.
    assert "jupyter-book>=1.0,<2" in (REPO / "pyproject.toml").read_text()


def test_ci_runs_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    for command in ("make test", "make book"):
        assert command in readme and command in ci


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_installs_the_package_when_missing(notebook):
    """Colab and Binder open a notebook without lpips_edu: a hidden cell installs it (never torch)."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    install = cells[1]
    assert "except ImportError" in install.source and "lpips-edu[book]" in install.source, notebook.name
    assert "remove-cell" in install.metadata.get("tags", [])
    assert "torch" not in install.source.replace("lpips_edu", "")


def _make_recipe(target: str) -> list[str]:
    """The command lines of a Makefile target."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_lab_installs_nothing_at_run_time():
    book = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["book"]
    assert "jupyterlab" in _requirement_names(book)
    recipe = _make_recipe("lab")
    assert recipe and not any("pip" in line for line in recipe), recipe


def test_binder_installs_the_package_and_fetches_the_weights_while_it_builds():
    """Binder builds an image once: the features fetched then are there, offline, at every launch."""
    commands = [line.strip() for line in (REPO / "binder" / "postBuild").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert commands == ["set -euo pipefail", 'pip install --no-cache-dir -e ".[book]"',
                        "python -m lpips_edu weights fetch"]

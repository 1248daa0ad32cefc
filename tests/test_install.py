"""The book's hidden install cell, run the way Colab runs it: a fresh environment, a non-editable install.

Every chapter opens with the same cell, tagged ``remove-cell``: it installs
``lpips-edu[book]`` from the repository when ``import lpips_edu`` fails. Here
that cell's own code runs in a new virtual environment, with the repository's
URL replaced by a copy of this working tree and the flags an offline machine
needs (no dependencies, no build isolation: torch and the rest come from this
environment through a ``.pth`` file, as Colab has them preinstalled). Then the
package must import from the new environment, ship its data files, and give
the reference distance for the example pair.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from repo_layout import NOTEBOOKS, REPO

from lpips_edu.models import imagenet_features
from lpips_edu.paths import cache_dir

GIT_REQUIREMENT = "lpips-edu[book] @ git+https://github.com/lpips-edu/lpips-edu"
REFERENCE_EXAMPLE_DISTANCE = "0.721881"  # alex v0.1, ImageNet features, float32 (test_imagenet_features.py)


def install_cell(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", []))


def test_every_chapter_has_the_same_install_cell():
    cells = {install_cell(notebook) for notebook in NOTEBOOKS}
    assert len(cells) == 1, "the chapters' hidden install cells differ"
    assert GIT_REQUIREMENT in cells.pop()


def copy_of_the_package(folder: Path) -> Path:
    """What a clone holds that pip builds from: the project file, the README, the package."""
    folder.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(REPO / "lpips_edu", folder / "lpips_edu", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def fresh_environment(folder: Path) -> Path:
    """A virtual environment that sees this one's packages (torch, pip, ...) but not its lpips_edu."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # A plain path: the editable install of this checkout (a .pth hook in there) is not run in the new one.
    (site / "preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_install_cell_gives_a_working_package_in_a_fresh_environment(tmp_path):
    source = copy_of_the_package(tmp_path / "clone")
    python = fresh_environment(tmp_path / "venv")
    offline_flags = '"--no-deps", "--no-build-isolation", "--ignore-installed", "--no-index", '
    cell = install_cell(NOTEBOOKS[0])
    local = cell.replace(f'"{GIT_REQUIREMENT}"', f'{offline_flags}"lpips-edu[book] @ {source.as_uri()}"')
    assert local != cell
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of this checkout on the path
    env.update(OMP_NUM_THREADS="1", LPIPS_EDU_PROGRESS="off", PIP_DISABLE_PIP_VERSION_CHECK="1",
               LPIPS_EDU_CACHE=str(cache_dir()))  # the features this machine fetched, read only

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)

    for _ in range(2):  # the second run finds the package and installs nothing
        result = run("-c", local)
        assert result.returncode == 0, result.stderr[-3000:]
    where = run("-c", "import lpips_edu, lpips_edu.data as d; print(lpips_edu.__file__); "
                      "print(all(d.example_path(n).is_file() for n in ('ref', 'p0', 'p1')))")
    assert where.returncode == 0, where.stderr[-3000:]
    module, data_ships = where.stdout.split()
    assert Path(module).is_relative_to(tmp_path / "venv") and "site-packages" in module
    assert data_ships == "True"  # the example triplet's PNGs are in the wheel
    if not all(imagenet_features.is_present(n) for n in imagenet_features.SOURCES):
        pytest.skip("ImageNet features missing here: run `python -m lpips_edu weights fetch` (make install does)")
    example = run("-c", "import lpips_edu.data as d; print(d.example_path('ref'), d.example_path('p0'))").stdout
    compare = run("-m", "lpips_edu", "compare", *example.split())
    assert compare.returncode == 0, compare.stderr[-3000:]
    assert compare.stdout.strip() == REFERENCE_EXAMPLE_DISTANCE

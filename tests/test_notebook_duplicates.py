"""No code cell is copied from one notebook into another (tests/notebook_duplicates.py says what counts).

The checker is shown failing on made-up notebooks first, so that the check on
the real ones means something.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from notebook_duplicates import MIN_SAME_LINES, normalise, read_notebooks, shared_cells
from repo_layout import REPO

INSTALL = '''# Colab: install lpips-edu when it is missing.
try:
    import lpips_edu
except ImportError:
    import subprocess, sys
    subprocess.check_call([sys.executable, "-m", "pip", "install", "lpips-edu[book] @ git+https://x"])'''

TRAIN = '''trainer = Trainer(recipe("{model}", P.name))
start = time.perf_counter()
history = trainer.fit()
minutes = (time.perf_counter() - start) / 60
print(f"trained {{trainer.epoch}} epoch(s) in {{minutes:.1f}} min")'''


def notebook(*sources, parameters: str = 'profile = "auto"\nseed = 0'):
    cells = [new_markdown_cell("# A chapter"), new_code_cell(parameters, metadata={"tags": ["parameters"]}),
             new_code_cell(INSTALL, metadata={"tags": ["remove-cell"]})]
    return new_notebook(cells=cells + [new_code_cell(s) for s in sources])


def test_normalising_drops_comments_imports_and_blank_lines_but_not_hashes_in_strings():
    source = 'import torch\nfrom a import (b,\n    c)\n\nx = 1  # why\n# a note\nprint("#1")   '
    assert normalise(source) == ["x = 1", 'print("#1")']
    assert normalise("import torch\n%time x = 1  # one") == ["import torch", "%time x = 1"]  # IPython: no ast


def test_the_same_cell_in_two_notebooks_is_found():
    copied = "a = load()\n\n# the same three lines\nb = process(a)\nshow(b)"
    [found] = shared_cells({"one": notebook(copied, "x = 1"), "two": notebook("y = 2", copied.replace("# the", "#"))})
    assert (found.first, found.first_index, found.second, found.second_index) == ("one", 3, "two", 4)
    assert found.ratio == 1.0 and found.lines == MIN_SAME_LINES and "the same cell" in str(found)


def test_a_copy_with_another_model_name_is_found():
    [found] = shared_cells({"alexnet": notebook(TRAIN.format(model="alexnet")),
                            "squeezenet": notebook(TRAIN.format(model="squeezenet1_1"))})
    assert 0.9 <= found.ratio < 1.0 and "near copy" in str(found)


def test_short_cells_the_install_cell_and_parameter_defaults_are_not_duplicates():
    two_lines = "fig = plot(history)\nplt.show()"
    near = TRAIN.format(model="alexnet").replace("minutes", "elapsed")
    assert (
        shared_cells(
            {
                "one": notebook(
                    two_lines,
                    "a = 1\nb = 2\nc = 3\nd = 4",
                    parameters='profile = "auto"\nseed = 0\nmodel = "alexnet"\nn = 1',
                ),
                "two": notebook(
                    two_lines,
                    "a = 9\nb = 8\nc = 7\nd = 6",
                    parameters='profile = "auto"\nseed = 0\nmodel = "vgg"\nn = 1',
                ),
            }
        )
        == []
    )
    assert len(shared_cells({"one": notebook(near), "two": notebook(TRAIN.format(model="alexnet"))})) == 1


def test_identical_parameter_cells_of_three_lines_count():
    parameters = 'profile = "auto"\nseed = 0\nmodel_name = None'
    [found] = shared_cells({"one": notebook(parameters=parameters), "two": notebook(parameters=parameters)})
    assert found.first_index == found.second_index == 1


def test_no_code_cell_is_shared_between_two_notebooks():
    paths = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "assignments" / "source").glob("*.ipynb"))
    assert len(paths) >= 10
    found = shared_cells(read_notebooks(paths, REPO))
    assert not found, "\n".join(map(str, found))


def test_the_install_cell_is_the_same_everywhere():
    """It is exempt from the check because it cannot be imported; it must then be one text, not variants."""
    paths = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "assignments" / "source").glob("*.ipynb"))
    installs = {[c for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"][1].source for p in paths}
    assert len(installs) == 1 and "lpips-edu[book]" in installs.pop()

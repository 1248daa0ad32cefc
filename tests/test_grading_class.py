"""Grading a class's folder in one command: a CSV, one feedback file per student, and no crash on bad files.

Three submissions of A1 in one folder, one per student: a solution with an endless cell
added (interrupted after the per-cell timeout, the rest graded), an untouched student
notebook (0 points with the "replace the # YOUR CODE HERE block" messages) and a file that
is not a notebook (0 points out of A1's maximum, with a note that says so).
"""

from __future__ import annotations

import csv

import nbformat
import pytest
from repo_layout import REPO

from lpips_edu.booktools import assignment_release
from lpips_edu.grading.__main__ import main as grading_main

A1 = REPO / "assignments" / "source" / "a1_build_alexnet2012.ipynb"
TIMEOUT_S = 15  # per cell: longer than any cell of A1's solution takes under smoke, short for the endless one


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    folder = root / "submissions"
    source = nbformat.read(A1, as_version=4)
    endless = nbformat.v4.new_code_cell("import time\n\nwhile True:  # a loop that never ends\n    time.sleep(0.05)")
    solved = nbformat.from_dict(source)
    solved.cells.insert(3, endless)
    for student, nb in (("jane", solved), ("tom", assignment_release.student_version(source, A1.name))):
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, str(folder / student / A1.name))
    (folder / "ana").mkdir()
    (folder / "ana" / A1.name).write_text("this is not a notebook")
    feedback, table = root / "feedback", root / "grades.csv"
    assert grading_main([str(folder), "--profile", "smoke", "--timeout", str(TIMEOUT_S),
                         "--csv", str(table), "--feedback-dir", str(feedback)]) == 0
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    return {row["notebook"]: row for row in rows if row["item"] == "total"}, feedback


@pytest.mark.notebooks
def test_every_student_gets_a_total_row_and_a_feedback_file(graded):
    totals, feedback = graded
    name = A1.stem
    assert sorted(totals) == [f"ana/{name}", f"jane/{name}", f"tom/{name}"]
    for student in ("ana", "jane", "tom"):
        text = (feedback / f"{student}__{name}.txt").read_text()
        assert "points" in text
    assert float(totals[f"tom/{name}"]["points"]) == 0
    assert "replace the # YOUR CODE HERE block" in (feedback / f"tom__{name}.txt").read_text().replace("\n       ", " ")


@pytest.mark.notebooks
def test_an_endless_cell_is_interrupted_and_the_rest_is_graded(graded):
    totals, _ = graded
    jane = totals[f"jane/{A1.stem}"]
    assert float(jane["points"]) == float(jane["max_points"]) > 0
    assert f"cell 3 was interrupted after {TIMEOUT_S} s" in jane["feedback"]


@pytest.mark.notebooks
def test_a_file_that_is_not_a_notebook_scores_zero_out_of_the_assignments_points(graded):
    totals, _ = graded
    ana = totals[f"ana/{A1.stem}"]
    assert float(ana["points"]) == 0 and float(ana["max_points"]) > 0
    assert "could not read" in ana["feedback"] and "as a notebook" in ana["feedback"]


def test_two_files_with_the_same_name_are_refused(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / A1.name).write_text("{}")
    with pytest.raises(SystemExit, match="two submissions are named"):
        grading_main([str(tmp_path / "a" / A1.name), str(tmp_path / "b" / A1.name)])

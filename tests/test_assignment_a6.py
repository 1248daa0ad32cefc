"""Assignment 6, break the metric: the solution scores full marks, the student version 0, each mistake its diagnosis.

The planted mistakes are student functions defined here and handed to the
checks in a namespace, as a notebook's ``globals()`` would be: one PGD loop
with switches, each switch one classic mistake. The two notebook runs (the
solution and the untouched student version) execute under the smoke profile.
"""

from __future__ import annotations

import nbformat
import pytest
import torch
from page_checks import reading_problems
from repo_layout import REPO

from lpips_edu.booktools import assignment_release
from lpips_edu.grading import ASSIGNMENTS, Report, grade_notebook
from lpips_edu.grading import a6_attack as a6
from lpips_edu.lpips.attack import quantize_8bit

SOURCE = REPO / "assignments" / "source" / "a6_break_the_metric.ipynb"


def make_attack(
    alpha=None, sign=1, project=True, clamp=True, ref_grad=False, ref_inplace=False, x_inplace=False, steps_used=None
):
    """A student's ``pgd_attack``; the defaults are a correct one, each switch plants one mistake."""

    def pgd_attack(metric, ref, x, eps, steps):
        a = eps / 2 if alpha is None else alpha
        if ref_grad:
            ref.requires_grad_(True)
        x0 = x if x_inplace else x.detach().clone()
        adv = x0.clone()
        for _ in range(steps if steps_used is None else steps_used):
            adv = adv.detach().requires_grad_(True)
            metric(ref, adv, normalize=True).sum().backward()
            with torch.no_grad():
                step = a * adv.grad.sign()
                adv = adv + sign * step
                if ref_inplace:
                    ref.sub_(step).clamp_(0, 1)  # "attacking both images"
                if project:
                    adv = x0 + (adv - x0).clamp(-eps, eps)
                if clamp:
                    adv = adv.clamp(0, 1)
                if x_inplace:
                    x0.copy_(adv)  # the centre of the ball moves with the attack
        return adv.detach()

    return pgd_attack


def make_triplets(farther=False, rounded=True):
    """A student's ``attack_triplets`` on top of the namespace's ``pgd_attack``."""

    def attack_triplets(metric, ref, p0, p1, eps, steps):
        with torch.no_grad():
            d0 = metric(ref, p0, normalize=True).flatten()
            d1 = metric(ref, p1, normalize=True).flatten()
        pick = ((d1 < d0) != farther)[:, None, None, None]  # True: attack p1
        target = torch.where(pick, p1, p0)
        moved = make_attack()(metric, ref, target, eps, steps)
        moved = quantize_8bit(moved) if rounded else moved
        return torch.where(pick, p0, moved), torch.where(pick, moved, p1)

    return attack_triplets


def _item(report: Report, start: str):
    return next(i for i in report.items if i.name.startswith(start))


@pytest.fixture(scope="module")
def correct():
    return a6.check_pgd_attack({"pgd_attack": make_attack()})


# ----------------------------------------------------------------------------- the rules


def test_a6_is_registered_and_in_the_book():
    assert ASSIGNMENTS["a6"] is a6
    assert nbformat.read(SOURCE, as_version=4).metadata["lpips_edu"]["assignment"] == "a6"
    assert "assignments/student/a6_break_the_metric" in (REPO / "_toc.yml").read_text()
    instructor = (REPO / "_toc_instructor.yml").read_text()
    assert (
        "assignments/source/a6_break_the_metric" in instructor
        and "assignments/student/a6_break_the_metric" in instructor
    )


def test_the_budget_is_counted_in_levels_on_the_8bit_grid():
    assert a6.allowed_levels(3 / 255) == 3 and a6.allowed_levels(2.5 / 255) == 3 and a6.allowed_levels(2.4 / 255) == 2
    original = torch.tensor([10.0, 11.0, 0.0, 255.0]) / 255
    inside = original + torch.tensor([3.0, -3.0, 2.6, -2.4]) / 255  # float noise of the clamp included
    assert int(a6.levels_moved(inside + 1e-7, original).max()) == 3
    assert int(a6.levels_moved(original + 3.51 / 255, original).max()) == 4
    for k in (10.0, 11.0):  # a tie rounds either way: at most floor(e + 1/2) levels
        start = torch.tensor([k / 255])
        assert int(a6.levels_moved(quantize_8bit(start + 2.5 / 255), start).max()) <= a6.allowed_levels(2.5 / 255)


# ----------------------------------------------------------------------------- planted mistakes, A6.1


def test_a_correct_attack_gets_full_marks(correct):
    assert correct.score == correct.max_score == 8, str(correct)
    assert "random +-eps noise flips" in _item(correct, "flips").feedback
    report = a6.check_attack_triplets({"pgd_attack": make_attack(), "attack_triplets": make_triplets()})
    assert report.score == report.max_score == 3, str(report)


def test_no_projection_exceeds_the_budget():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(project=False)})
    item = _item(report, "within the eps-ball")
    assert not item.passed and "project back onto the eps-ball around the ORIGINAL" in item.feedback
    assert _item(report, "flips").passed and report.score == 6


def test_no_clamp_leaves_the_image_range():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(clamp=False)})
    item = _item(report, "valid images")
    assert not item.passed and "clamp to the image range" in item.feedback
    assert _item(report, "within the eps-ball").passed and report.score == 7


def test_a_step_down_the_gradient_is_called_the_wrong_way():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(sign=-1)})
    item = _item(report, "flips")
    assert not item.passed and "the step goes the wrong way" in item.feedback
    assert "distances went up" in item.feedback and report.score == 4


def test_gradients_through_the_reference_are_detected():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(ref_grad=True)})
    item = _item(report, "the reference held fixed")
    assert not item.passed and "gradients flowed through the reference" in item.feedback
    assert "requires_grad=True" in item.feedback and "a .grad" in item.feedback
    assert report.score == 7
    report = a6.check_pgd_attack({"pgd_attack": make_attack(ref_inplace=True)})
    assert "the reference images were modified" in _item(report, "the reference held fixed").feedback


def test_perturbations_that_round_away_are_measured_before_and_after_rounding():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(alpha=0.05 / 255)})
    item = _item(report, "flips")
    assert not item.passed and "The perturbations round away" in item.feedback, item.feedback
    assert "before)" in item.feedback and "at least 1/255" in item.feedback


def test_an_attack_that_moves_its_own_centre_is_told_so():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(x_inplace=True)})
    item = _item(report, "within the eps-ball")
    assert not item.passed and "changed the images passed to it in place" in item.feedback


def test_a_weak_or_idle_attack_gets_its_own_reason():
    report = a6.check_pgd_attack({"pgd_attack": make_attack(steps_used=0)})
    assert "returned the images unchanged" in _item(report, "flips").feedback
    report = a6.check_pgd_attack({"pgd_attack": make_attack(alpha=1 / 255, steps_used=1)})
    item = _item(report, "flips")
    assert not item.passed and "too weak" in item.feedback, item.feedback


# ----------------------------------------------------------------------------- planted mistakes, A6.2


def test_attacking_the_farther_candidate_and_not_rounding_are_named():
    report = a6.check_attack_triplets({"attack_triplets": make_triplets(farther=True)})
    item = _item(report, "attacks the candidate judged closer")
    assert not item.passed and "judged FARTHER was changed" in item.feedback
    assert not _item(report, "flips the 2AFC").passed
    report = a6.check_attack_triplets({"attack_triplets": make_triplets(rounded=False)})
    item = _item(report, "rounded to 8 bits")
    assert not item.passed and "off the 8-bit grid" in item.feedback
    assert report.score == 2


def test_unfinished_and_missing_functions_give_messages():
    def unfinished(*args):
        raise NotImplementedError("replace the # YOUR CODE HERE block in pgd_attack with your code")

    report = a6.grade({"pgd_attack": unfinished})
    assert report.score == 0 and report.max_score == 11
    assert report.items[0].feedback == "not implemented yet: replace the # YOUR CODE HERE block in `pgd_attack`"
    assert report.items[1].feedback == "`attack_triplets` is not defined: run the cell that defines it"


# ----------------------------------------------------------------------------- the notebook


@pytest.mark.notebooks
def test_the_solution_gets_full_marks(tmp_path):
    report = grade_notebook(SOURCE, profile="smoke", executed_path=tmp_path / SOURCE.name)
    assert report.score == report.max_score == 11, str(report)
    assert not report.notes, report.notes
    executed = nbformat.read(tmp_path / SOURCE.name, as_version=4)
    shown = "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in executed.cells
        if c.cell_type == "code" and "checks.check_" in c.source
        for o in c.outputs
    )
    assert "[ok]" in shown and "[--]" not in shown
    assert not reading_problems(executed)


@pytest.mark.notebooks
def test_the_untouched_student_version_gives_zero(tmp_path):
    (student,) = assignment_release.build(SOURCE.parent, tmp_path / "release", notebooks=[SOURCE])
    report = grade_notebook(student, profile="smoke", executed_path=tmp_path / "executed.ipynb")
    assert report.score == 0 and report.max_score == 11, str(report)
    feedback = [i.feedback for i in report.items]
    assert feedback == [
        "not implemented yet: replace the # YOUR CODE HERE block in `pgd_attack`",
        "not implemented yet: replace the # YOUR CODE HERE block in `attack_triplets`",
    ], feedback
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    errors = [
        o["ename"]
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert errors and errors[0] == "NotImplementedError"

"""Assignment 5, calibrate the heads: the solution scores full marks, an untouched copy scores 0, mistakes are named.

The notebook runs twice (the solution, the untouched student version, both under the smoke
profile); every planted mistake is checked on the grader's functions with a namespace built
here, which takes a second instead of a kernel.
"""

from __future__ import annotations

import json

import nbformat
import pytest
import torch
import torch.nn.functional as F
from page_checks import reading_problems
from repo_layout import REPO
from torch import nn

from lpips_edu import calibrate
from lpips_edu.booktools import assignment_release, time_budget
from lpips_edu.grading import ASSIGNMENTS, Report, grade_notebook
from lpips_edu.grading import a5_calibration as a5
from lpips_edu.grading.__main__ import main as grading_main
from lpips_edu.lpips.linear_heads import head_modules

SOURCE = REPO / "assignments" / "source" / "a5_calibrate_heads.ipynb"
PAGE = "assignments/source/a5_calibrate_heads"


def _feedback(report: Report, name: str) -> str:
    return next(i.feedback for i in report.items if i.name == name)


# ----------------------------------------------------------------------------- a solution, and its mistakes


class Judge(nn.Module):
    def __init__(self, hidden: int = 32, eps: float = 0.1, eps_in_ratios: bool = True) -> None:
        super().__init__()
        self.eps = eps if eps_in_ratios else 0.0
        self.net = nn.Sequential(
            nn.Linear(5, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
            nn.Sigmoid(),
        )

    def forward(self, d0, d1):
        e = self.eps
        return self.net(torch.stack([d0, d1, d0 - d1, d0 / (d1 + e), d1 / (d0 + e)], dim=1)).squeeze(1)


def distance(metric, means):
    return sum(lin.model[0](m) @ lin.weight.flatten() for lin, m in zip(metric.lins, means))


def solution(loss="right", clamp=True, backbone="frozen", evaluate=True, step=True) -> dict:
    """The notebook's solution as a namespace, with one mistake made on purpose where asked."""

    def ranking_loss(judge, d0, d1, h):
        if loss == "1 - h":
            return F.binary_cross_entropy(judge(d0, d1), 1 - h)
        if loss == "on distances":  # a Bradley-Terry loss on the distances: G is left out
            return F.binary_cross_entropy_with_logits(d0 - d1, h)
        return F.binary_cross_entropy(judge(d0, d1), h)

    def train_heads(metric, judge, cache, epochs, lr=1e-3, batch_size=32, seed=0):
        heads = [lin.weight for lin in metric.lins]
        if backbone == "frozen":
            for w in heads:
                w.requires_grad_(True)
            params = [*heads, *judge.parameters()]
        else:  # the whole metric made trainable and handed to Adam
            metric.requires_grad_(True)
            params = [*metric.parameters(), *judge.parameters()]
        optimizer = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
        metric.lins.train()
        g = torch.Generator().manual_seed(seed)
        losses = []
        for _ in range(epochs):
            for batch in torch.randperm(len(cache["judge"]), generator=g).split(batch_size):
                d0 = distance(metric, [m[batch] for m in cache["m0"]])
                d1 = distance(metric, [m[batch] for m in cache["m1"]])
                value = ranking_loss(judge, d0, d1, cache["judge"][batch])
                optimizer.zero_grad()
                value.backward()
                if step:
                    optimizer.step()
                if backbone == "changed":  # what an optimizer step through the features would do
                    with torch.no_grad():
                        next(metric.net.parameters()).add_(1e-3)
                if clamp:
                    with torch.no_grad():
                        for w in heads:
                            w.clamp_(min=0)
                losses.append(value.item())
        return losses

    def score_heads(metric, cache):
        if evaluate:
            metric.eval()
        with torch.no_grad():
            d0, d1 = distance(metric, cache["m0"]), distance(metric, cache["m1"])
        return float(calibrate.two_afc_agreement(d0.numpy(), d1.numpy(), cache["judge"].numpy()).mean())

    return {"Judge": Judge, "ranking_loss": ranking_loss, "train_heads": train_heads, "score_heads": score_heads}


def _unfinished(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"replace the # YOUR CODE HERE block in {name} with your code")

    return fn


# ----------------------------------------------------------------------------- the pieces


def test_the_correct_pieces_get_full_marks():
    namespace = solution()
    for check in (a5.check_judge, a5.check_loss, a5.check_training, a5.check_scoring):
        report = check(namespace)
        assert report.score == report.max_score == check.points, str(report)


def test_unfinished_pieces_score_zero_with_the_stub_message():
    namespace = {name: _unfinished(name) for name in ("Judge", "ranking_loss", "train_heads", "score_heads")}
    for check in (a5.check_judge, a5.check_loss, a5.check_training, a5.check_scoring):
        report = check(namespace)
        assert report.score == 0 and report.max_score == check.points
        assert report.items[0].feedback.startswith("not implemented yet: replace the # YOUR CODE HERE block in `")
    report = a5.check_heldout({"metric": a5.fresh_metric()})  # the training cell never ran
    assert report.score == 0 and "`losses` is not defined: run the training cell" in report.items[0].feedback


def test_the_judge_must_read_the_five_features_with_eps():
    report = a5.check_judge({"Judge": lambda: Judge(eps_in_ratios=False)})
    feedback = _feedback(report, "the five features of the pair")
    assert "d0 / (d1 + eps), d1 / (d0 + eps)" in feedback and "a ratio without eps" in feedback
    assert report.score == report.max_score - 2


def test_h_with_the_wrong_sign_is_named():
    report = a5.check_loss(solution(loss="1 - h"))
    assert "h used with the wrong sign" in _feedback(report, "cross-entropy of G against h")
    assert report.score == 1  # it does train G


def test_a_loss_on_the_distances_is_named():
    report = a5.check_loss(solution(loss="on distances"))
    assert report.score == 0
    assert _feedback(report, "cross-entropy of G against h").startswith("the loss is computed on the distances")
    assert _feedback(report, "the loss trains G").startswith("the loss is computed on the distances")


def test_no_clamp_is_named():
    report = a5.check_training(solution(clamp=False))
    assert "head weights are negative after training: clamp" in _feedback(report, "heads stay non-negative")
    assert report.score == report.max_score - 1


@pytest.mark.parametrize(
    "backbone, fact", [("trainable", "backbone parameters require grad"), ("changed", "backbone tensors changed")]
)
def test_training_the_backbone_is_named(backbone, fact):
    report = a5.check_training(solution(backbone=backbone))
    feedback = _feedback(report, "the backbone stays frozen")
    assert fact in feedback and "training the backbone by accident" in feedback
    assert report.score == report.max_score - 1


def test_a_loop_without_step_is_told_the_heads_did_not_change():
    report = a5.check_training(solution(step=False))
    assert _feedback(report, "Adam updates the heads and G").startswith("the heads did not change")


def test_scoring_without_eval_is_named():
    report = a5.check_scoring(solution(evaluate=False))
    assert "no eval() when scoring" in _feedback(report, "scored in evaluation mode")
    assert "no eval() when scoring" in _feedback(report, "the 2AFC score of the heads")
    assert report.score == 0


def test_the_heldout_bar_passes_equal_weights_and_fails_negative_heads(monkeypatch):
    monkeypatch.setitem(a5.MARGIN, "smoke", 0.02)  # judge the bar on the small held-out set
    metric = a5.fresh_metric()
    with torch.no_grad():
        for conv in head_modules(metric).values():
            conv.weight.fill_(1.0)
    namespace = {"profile": "smoke", "losses": [0.7], "metric": metric}
    report = a5.check_heldout(namespace)
    assert report.score == 3, str(report)
    assert "equal weights" in report.items[0].feedback and "official heads" in report.items[0].feedback
    with torch.no_grad():
        for conv in head_modules(metric).values():
            conv.weight.fill_(-1.0)  # every triplet answered the wrong way round
    report = a5.check_heldout(namespace)
    assert report.score == 0 and "head weights are negative after training: clamp" in report.items[0].feedback


def test_heldout_triplets_of_a_class_report_their_ceiling_and_set_no_bar():
    data = a5.heldout_triplets("smoke")
    people = calibrate.TwoAFCTensors(data.ref[:12], data.p0[:12], data.p1[:12], torch.linspace(0, 1, 12))
    namespace = {"observer_dir": "class", "heldout_set": people, "losses": [0.7], "metric": a5.fresh_metric()}
    report = a5.check_heldout({**namespace, "profile": "cpu"})
    feedback = report.items[0].feedback
    assert report.score == 3 and "12 of your class's triplets" in feedback
    assert "not judged: a class's judgements are too few" in feedback and "people's own ceiling" in feedback


# ----------------------------------------------------------------------------- the notebook


def test_a5_is_registered_in_the_book_and_has_a_budget():
    nb = nbformat.read(SOURCE, as_version=4)
    assert nb.metadata["lpips_edu"]["assignment"] == "a5" and ASSIGNMENTS["a5"] is a5
    toc = (REPO / "_toc.yml").read_text()
    student_page = PAGE.replace("/source/", "/student/")
    assert toc.index("assignments/student/a4_speed_quality_tradeoff") < toc.index(student_page)
    assert PAGE in (REPO / "_toc_instructor.yml").read_text()
    intro = nb.cells[0].source
    assert time_budget.page_minutes(PAGE) and time_budget.run_time_sentence(PAGE) in intro
    assert "**Learning goals.**" in intro and "(an estimate, not measured)" in " ".join(intro.split())


@pytest.mark.notebooks
def test_a5_solution_gets_full_marks(tmp_path):
    report = grade_notebook(SOURCE, profile="smoke", executed_path=tmp_path / SOURCE.name)
    assert report.score == report.max_score == 17, str(report)
    assert not report.notes, f"cells raised errors: {report.notes}"
    executed = nbformat.read(tmp_path / SOURCE.name, as_version=4)
    problems = reading_problems(executed)
    assert not problems, "\n".join(problems)


@pytest.mark.notebooks
def test_a5_untouched_student_notebook_grades_zero(tmp_path):
    student = assignment_release.build(SOURCE.parent, tmp_path / "release", notebooks=[SOURCE])[0]
    results = tmp_path / "grades.json"
    assert grading_main([str(student), "--profile", "smoke", "--json", str(results)]) == 0
    report = Report.from_dict(next(iter(json.loads(results.read_text()).values())))
    assert report.score == 0 and report.max_score == 17
    first = report.items[0].feedback
    assert first == "not implemented yet: replace the # YOUR CODE HERE block in `Judge`", first
    assert any("`losses` is not defined" in i.feedback for i in report.items)

"""The course assignments: one source with solutions, student versions built from it, checks that explain.

* the build leaves no solution in the student notebooks, and no outputs;
* every solution passes its checks with the full automatic score (smoke profile);
* every untouched student notebook runs up to its first exercise and stops there with
  NotImplementedError, and grading it gives 0 points with "not implemented yet" messages, not a crash;
* the diagnostics name the classic mistakes (no groups, no channel normalisation, ...).
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from book_checks import solution_problems
from page_checks import reading_problems
from repo_layout import INSTRUCTOR_TOC, REPO
from torch import nn

from lpips_edu.booktools import assignment_release
from lpips_edu.grading import ASSIGNMENTS, Report, grade_notebook
from lpips_edu.grading import a1_architecture as a1
from lpips_edu.grading import a2_lpips as a2
from lpips_edu.grading import a3_training as a3
from lpips_edu.grading import a4_tradeoff as a4
from lpips_edu.grading.__main__ import main as grading_main
from lpips_edu.models import AlexNet2012
from lpips_edu.train import TrainConfig

SOURCE_DIR = REPO / "assignments" / "source"
STUDENT_DIR = REPO / "assignments" / "student"
SOURCES = sorted(SOURCE_DIR.glob("*.ipynb"))
IDS = [p.stem for p in SOURCES]
EXERCISE_MARK = "# YOUR CODE HERE"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    assignment_release.build(SOURCE_DIR, out)
    return out


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


# ----------------------------------------------------------------------------- the sources


def test_every_assignment_is_in_both_editions():
    """The published book shows the student version, the instructor edition the source with its solution."""
    assert len(SOURCES) >= 4
    toc, instructor_toc = (REPO / "_toc.yml").read_text(), INSTRUCTOR_TOC.read_text()
    ids = set()
    for path in SOURCES:
        nb = nbformat.read(path, as_version=4)
        ids.add(nb.metadata["lpips_edu"]["assignment"])
        assert f"assignments/student/{path.stem}" in toc, f"the student {path.name} is missing from _toc.yml"
        assert f"assignments/source/{path.stem}" in instructor_toc, f"{path.name} is missing from {INSTRUCTOR_TOC.name}"
    assert "assignments/source/" not in toc, "the published book shows no solution"
    assert ids == set(ASSIGNMENTS)
    assert "book/instructors" in toc and "book/instructors" in instructor_toc


def test_the_committed_student_versions_are_built_from_the_current_sources():
    problems = assignment_release.stale(SOURCE_DIR, STUDENT_DIR)
    assert not problems, "\n".join(problems) + "\nrun `make assignments` and commit assignments/student"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_no_solution_line_is_in_the_committed_student_version(path):
    solutions = assignment_release.solution_lines(nbformat.read(path, as_version=4))
    assert len(solutions) >= 3, "the source's solutions are found"
    student = nbformat.read(STUDENT_DIR / path.name, as_version=4)
    problems = solution_problems(path.stem, "\n".join(c.source for c in student.cells), solutions)
    assert not problems, "\n".join(problems)
    source_text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert solution_problems(path.stem, source_text, solutions), "the check finds the solutions in the source"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_source_follows_the_chapter_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Assignment")
    code = _code_cells(nb)
    assert "parameters" in code[0].metadata.get("tags", []) and re.search(
        r'^profile\s*=\s*"auto"', code[0].source, re.M
    )
    assert "remove-cell" in code[1].metadata.get("tags", []) and "except ImportError" in code[1].source
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} cell {i} has outputs"
        if assignment_release.has_solution(cell):
            # Hidden behind a toggle in the book, an nbgrader solution cell, followed by a check cell.
            assert "hide-input" in cell.metadata.get("tags", []), f"{path.name} cell {i}"
            assert cell.metadata["nbgrader"]["solution"] is True
            following = nb.cells[i + 1]
            assert following.cell_type == "code" and "checks.check_" in following.source, f"{path.name} cell {i + 1}"


# ----------------------------------------------------------------------------- the build


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_student_version_has_no_solutions_and_no_outputs(path, release):
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(release / path.name, as_version=4)
    blocks = sum(c.source.count(assignment_release.BEGIN) for c in source.cells)
    text = "\n".join(c.source for c in student.cells)
    assert blocks >= 2
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    stubs = sum(line.strip() == EXERCISE_MARK for c in _code_cells(student) for line in c.source.split("\n"))
    assert stubs == blocks, "every solution block is replaced by a stub"
    assert text.count("raise NotImplementedError(") == blocks
    for cell in student.cells:
        assert assignment_release.SOLUTION_ONLY not in cell.metadata.get("tags", [])
        if EXERCISE_MARK in cell.source and cell.cell_type == "code":
            assert "hide-input" not in cell.metadata.get("tags", [])
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
    assert student.metadata["lpips_edu"]["version"] == "student"
    assert len(student.cells) == len(source.cells) - sum(
        assignment_release.SOLUTION_ONLY in c.metadata.get("tags", []) for c in source.cells
    )


def test_strip_code_keeps_indentation_and_names_the_function():
    source = ("class A:\n    def f(self):\n        x = 1\n        ### BEGIN SOLUTION\n        return x\n"
              "        ### END SOLUTION\n\nprint(A().f())")
    out = assignment_release.strip_code(source)
    assert "        # YOUR CODE HERE\n        raise NotImplementedError(" in out
    assert "A.f" in out and "return x" not in out and out.endswith("print(A().f())")
    with pytest.raises(ValueError, match="no matching"):
        assignment_release.strip_code("### BEGIN SOLUTION\nx = 1\n")
    assert (
        assignment_release.strip_markdown("Answer:\n### BEGIN SOLUTION\nsecret\n### END SOLUTION")
        == "Answer:\nYOUR ANSWER HERE"
    )


def test_build_command_writes_the_release(tmp_path):
    assert assignment_release.main(["build", "--source", str(SOURCE_DIR), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in SOURCES]


def test_nbval_does_not_collect_the_assignments():
    import tomllib

    testpaths = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert not any(p.startswith("assignments") for p in testpaths)


# ----------------------------------------------------------------------------- running the notebooks


@pytest.mark.notebooks
@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_solution_passes_every_check(path, tmp_path):
    report = grade_notebook(path, profile="smoke", executed_path=tmp_path / path.name)
    assert report.max_score > 0
    assert report.score == report.max_score, str(report)
    assert not report.notes, f"cells raised errors: {report.notes}"
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    shown = "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in _code_cells(executed)
        if "checks.check_" in c.source
        for o in c.outputs
    )
    assert "[ok]" in shown and "[--]" not in shown, "the check cells print their feedback"
    problems = reading_problems(executed)
    assert not problems, "\n".join(problems)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_untouched_student_notebook_stops_at_the_first_exercise_and_grades_zero(path, release, tmp_path, capsys):
    """One grading run of the student version (errors allowed), read twice.

    Run All in Jupyter stops at the first error: it must be the NotImplementedError of
    the first exercise, after every cell before it ran cleanly. The grade must be 0 with
    messages that say what to do, not a crash.
    """
    results = tmp_path / "grades.json"
    assert grading_main([str(release / path.name), "--profile", "smoke", "--json", str(results),
                         "--csv", str(tmp_path / "grades.csv"), "--executed-dir", str(tmp_path / "executed")]) == 0

    executed = _code_cells(nbformat.read(tmp_path / "executed" / path.name, as_version=4))
    errors = [i for i, c in enumerate(executed) if any(o.get("output_type") == "error" for o in c.outputs)]
    first = next(i for i, c in enumerate(executed) if EXERCISE_MARK in c.source)
    assert errors and errors[0] == first, f"the first error is in code cell {errors[:1]}, not exercise cell {first}"
    assert [o["ename"] for o in executed[first].outputs if o.get("output_type") == "error"] == ["NotImplementedError"]
    assert all(cell.execution_count is not None for cell in executed[:first])

    report = Report.from_dict(next(iter(json.loads(results.read_text()).values())))
    assert report.score == 0 and report.max_score > 0
    auto = [i for i in report.items if not i.manual]
    for item in auto:
        assert (
            item.feedback.startswith("not implemented yet: replace the # YOUR CODE HERE block in `")
            or " is not defined: run the " in item.feedback
        ), item.feedback
    assert sum(i.feedback.startswith("not implemented yet") for i in auto) >= 2
    assert all(i.feedback.startswith("no answer yet") for i in report.items if i.manual)
    assert "points" in capsys.readouterr().out
    assert (tmp_path / "grades.csv").read_text().count("\n") == len(report.items) + 2  # header, items, total


# ----------------------------------------------------------------------------- diagnostics, unit by unit


def _alexnet_without_groups(num_classes=1000, dropout=0.5):
    model = AlexNet2012(num_classes)
    for i in (4, 10, 12):
        c = model.features[i]
        model.features[i] = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
    return model


def _alexnet_with_paper_alpha(num_classes=1000, dropout=0.5):
    model = AlexNet2012(num_classes)
    for i in (2, 6):
        model.features[i] = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    return model


def _feedback(report: Report, name: str) -> str:
    return next(i.feedback for i in report.items if i.name == name)


def test_a1_alexnet_without_groups_is_told_about_groups():
    report = a1.check_alexnet2012({"MyAlexNet2012": _alexnet_without_groups})
    assert report.score == 4 and report.max_score == 10
    assert "features[4] (conv2)" in _feedback(report, "features, layer by layer")
    assert "groups=2" in _feedback(report, "features, layer by layer")
    assert "exactly what groups=2 saves in conv2, conv4, conv5" in _feedback(report, "parameter count")


def test_a1_lrn_alpha_and_pooling_mistakes_are_named():
    report = a1.check_alexnet2012({"MyAlexNet2012": _alexnet_with_paper_alpha})
    assert "divides alpha by size" in _feedback(report, "features, layer by layer")
    report = a1.check_conv_output_size({"conv_output_size": lambda n, k, s=1, p=0: -(-(n + 2 * p - k) // s) + 1})
    assert "rounding up (ceil)" in _feedback(report, "stride > 1 rounds down")
    assert report.score == 1
    report = a1.check_vgg11_config(
        {"vgg11_config": lambda: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]}
    )
    assert report.score == 0 and "configuration B (VGG-13)" in _feedback(report, "layers and pools")


def _normalize(x, eps=1e-10):
    return x / (x.pow(2).sum(1, keepdim=True).sqrt() + eps)


def _lpips(normalise=True, spatial_mean=True, weigh=True):
    def fn(f0, f1, weights):
        total = 0
        for a, b, w in zip(f0, f1, weights):
            d = ((_normalize(a) - _normalize(b)) if normalise else (a - b)).pow(2)
            d = (d * w.view(1, -1, 1, 1)).sum(1) if weigh else d.sum(1)
            total = total + (d.mean((1, 2)) if spatial_mean else d.sum((1, 2)))
        return total

    return fn


def _lpips_map(mode="bilinear", align_corners=False, mean_first=False, upsample_features=False, layer_mean=False):
    """A student's lpips_map, right by default, with one planted mistake per keyword."""

    def up(x, size):
        if mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)

    def lpips_map(f0, f1, weights, out_size):
        maps = []
        for a, b, w in zip(f0, f1, weights):
            if upsample_features:
                a, b = up(a, out_size), up(b, out_size)
            d = ((_normalize(a) - _normalize(b)).pow(2) * w.view(1, -1, 1, 1)).sum(1, keepdim=True)
            if mean_first:
                d = d.mean((2, 3), keepdim=True)
            maps.append(d if upsample_features else up(d, out_size))
        total = sum(maps)
        return total / len(maps) if layer_mean else total

    return lpips_map


def _contributions(mistake=None):
    """A student's layer_contributions, right by default, or normalised wrongly."""

    def layer_contributions(f0, f1, weights):
        terms = torch.stack([_lpips()([a], [b], [w]) for a, b, w in zip(f0, f1, weights)])
        if mistake == "fractions":
            return terms / terms.sum(0, keepdim=True)
        if mistake == "over_pairs":
            return terms / terms.sum(1, keepdim=True)
        if mistake == "mean":
            return terms / len(f0)
        if mistake == "from_map":
            maps = [_lpips_map()([a], [b], [w], (64, 64)) for a, b, w in zip(f0, f1, weights)]
            return torch.stack([m.mean((1, 2, 3)) for m in maps])
        return terms

    return layer_contributions


def _plot_map(photo, distorted, dmap, colour_bar_label="LPIPS per pixel"):
    fig, axes = plt.subplots(1, 3)
    axes[0].imshow(photo.permute(1, 2, 0).numpy())
    axes[1].imshow(distorted.permute(1, 2, 0).numpy())
    shown = axes[2].imshow(dmap.numpy())
    if colour_bar_label is not None:
        fig.colorbar(shown, ax=axes[2], label=colour_bar_label)
    return fig


A2_SOLUTION = {
    "normalize_channels": _normalize,
    "lpips_from_features": _lpips(),
    "lpips_map": _lpips_map(),
    "plot_map": _plot_map,
    "layer_contributions": _contributions(),
    "ANSWER": "scale",
}


def test_a2_correct_lpips_gets_full_marks():
    report = a2.grade(A2_SOLUTION)
    assert report.score == report.max_score == 19 and report.manual_points == 2, str(report)


def test_a2_map_is_the_packages_spatial_map_and_its_mean_is_the_distance_where_that_holds():
    from lpips_edu.lpips.metric import LPIPSFeatures, normalize_tensor

    case = a2.reference_case()
    metric = a2.LPIPS(net="alex", pnet_rand=True, spatial=True)
    for lin, w in zip(metric.lins, case["weights"]):
        lin.weight.data.copy_(w.view_as(lin.weight))
    taps = [
        LPIPSFeatures([normalize_tensor(t.clone()) for t in f], case["image_size"]) for f in (case["f0"], case["f1"])
    ]
    with torch.no_grad():
        package = metric.distance_from_features(*taps)
    ours = _lpips_map()(case["f0"], case["f1"], case["weights"], case["image_size"])
    assert torch.allclose(ours, package, rtol=1e-5, atol=1e-8)
    assert torch.allclose(case["expected_map"], package, rtol=1e-5, atol=1e-8)
    # AlexNet's taps at 64 px do not divide the image: the map's mean is close to the distance, not equal
    gap = (package.mean((1, 2, 3)) - case["expected"]).abs() / case["expected"]
    assert 0 < gap.max() < 1e-2
    small = a2.divisible_case()
    mean = _lpips_map()(small["f0"], small["f1"], small["weights"], small["size"]).mean((1, 2, 3))
    assert torch.allclose(mean.double(), small["expected"], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, item, expected",
    [
        ({"mode": "nearest"}, "matches LPIPS(spatial=True)", "nearest-neighbour upsampling"),
        ({"align_corners": True}, "matches LPIPS(spatial=True)", "align_corners=True: LPIPS"),
        ({"align_corners": True}, "its mean is the distance where the taps divide the image", "align_corners=True"),
        ({"mean_first": True}, "matches LPIPS(spatial=True)", "averaged over its positions before upsampling"),
        ({"upsample_features": True}, "matches LPIPS(spatial=True)", "the feature maps upsampled before"),
        ({"layer_mean": True}, "matches LPIPS(spatial=True)", "the layers averaged instead of summed"),
    ],
)
def test_a2_names_the_map_mistake(kwargs, item, expected):
    report = a2.check_lpips_map({"lpips_map": _lpips_map(**kwargs)})
    assert expected in _feedback(report, item)
    assert report.score < report.max_score


@pytest.mark.parametrize(
    "mistake, expected",
    [
        ("fractions", "as a fraction of the pair's distance"),
        ("over_pairs", "normalised over the image pairs"),
        ("mean", "divided by the number of taps"),
        ("from_map", "the mean of each tap's upsampled map"),
    ],
)
def test_a2_names_the_contribution_mistake(mistake, expected):
    report = a2.check_layer_contributions({"layer_contributions": _contributions(mistake)})
    assert expected in _feedback(report, "equal to LPIPS's per-tap terms")
    assert not next(i for i in report.items if i.name == "the terms add up to the distance").passed


def test_a2_contributions_the_wrong_way_round_cost_the_shape_point_only():
    report = a2.check_layer_contributions({"layer_contributions": lambda *args: _contributions()(*args).T})
    assert report.score == 2 and "one row per tap, so taps x pairs (5 x 3)" in _feedback(
        report, "one row per tap, one column per pair"
    )


def test_a2_figure_needs_the_map_and_a_labelled_colour_bar():
    report = a2.check_plot_map({"plot_map": _plot_map})
    assert report.score == 2
    report = a2.check_plot_map({"plot_map": lambda p, d, m: _plot_map(p, d, m, colour_bar_label=None)})
    assert report.score == 1
    assert "no colour bar for the map" in _feedback(report, "the map's colour bar says what it shows")
    report = a2.check_plot_map({"plot_map": lambda p, d, m: _plot_map(p, d, 2 * m)})
    assert "none of them the map as it is" in _feedback(report, "the photo, the distorted copy and the map")


def test_a2_unfinished_new_parts_say_what_to_replace():
    def unfinished(*args, **kwargs):
        raise NotImplementedError

    for check, name in (
        (a2.check_lpips_map, "lpips_map"),
        (a2.check_plot_map, "plot_map"),
        (a2.check_layer_contributions, "layer_contributions"),
    ):
        report = check({name: unfinished})
        assert report.score == 0 and report.max_score > 0
        assert [i.feedback for i in report.items] == [
            f"not implemented yet: replace the # YOUR CODE HERE block in `{name}`"
        ]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"normalise": False}, "no channel normalisation"),
        ({"spatial_mean": False}, "a sum over the positions instead of the spatial mean"),
        ({"weigh": False}, "the weights are not applied"),
    ],
)
def test_a2_names_the_lpips_mistake(kwargs, expected):
    report = a2.check_lpips_from_features({"normalize_channels": _normalize, "lpips_from_features": _lpips(**kwargs)})
    assert expected in _feedback(report, "matches lpips_edu.LPIPS")


def test_a2_eps_inside_the_square_root_is_found_on_small_features():
    def eps_inside(x, eps=1e-10):
        return x / (x.pow(2).sum(1, keepdim=True) + eps).sqrt()

    report = a2.check_normalize_channels({"normalize_channels": eps_inside})
    assert "eps inside the square root" in _feedback(report, "eps added to the norm")


def test_missing_unfinished_and_crashing_code_give_messages_not_exceptions():
    def unfinished(*args, **kwargs):
        raise NotImplementedError("replace the # YOUR CODE HERE block")

    assert (
        a2.check_normalize_channels({}).items[0].feedback
        == "`normalize_channels` is not defined: run the cell that defines it"
    )
    report = a1.check_alexnet2012({"MyAlexNet2012": unfinished})
    assert report.score == 0 and report.max_score == 10
    assert report.items[0].feedback == "not implemented yet: replace the # YOUR CODE HERE block in `MyAlexNet2012`"
    report = a1.check_vgg11_config({"vgg11_config": lambda: [1 / 0]})
    assert "`vgg11_config` raised ZeroDivisionError" in report.items[0].feedback
    with pytest.raises(AssertionError, match=r"not\s+implemented"):
        report = a1.check_alexnet2012({"MyAlexNet2012": unfinished}).require()


def test_a3_budget_checkpoints_and_reported_numbers():
    P = a3.get_profile("cpu")
    assert a3.training_budget(P) == 10_000
    greedy = TrainConfig(model="squeezenet1_1", epochs=20, images_per_class=240, batch_size=64)
    report = a3.check_config({"P": P, "make_config": lambda P, b: greedy})
    assert "the budget is 10,000: lower epochs" in _feedback(report, "fits the budget")
    assert "book-trained backbone" in _feedback(report, "leaves the book's checkpoints alone")

    history = a3.EXAMPLE_HISTORY
    config = TrainConfig(batch_size=32)

    def in_percent(history, config):
        return {
            "final_val_top1": 100 * history[-1]["val_top1"],
            "best_val_top1": 31.0,
            "best_epoch": 2,
            "images_seen": len(history) * 240 * 14,
        }

    report = a3.check_summary({"P": P, "history": history, "config": config, "summarize": in_percent})
    assert "not percent" in _feedback(report, "final and best validation accuracy")
    assert "counts epochs from 1" in _feedback(report, "best epoch")
    assert "drops the last incomplete batch" in _feedback(report, "training images seen")


def test_a3_accuracy_bar_is_chapter_0s_colour_baseline_plus_five_points():
    from lpips_edu.data import OfflineImages
    from lpips_edu.data.colour_baseline import colour_baseline_top1

    P = a3.get_profile("cpu")
    train = OfflineImages("train", P.images_per_class, P.image_size, 0)
    val = OfflineImages("val", P.val_images_per_class, P.image_size, 0)
    baseline = colour_baseline_top1([train[i] for i in range(len(train))], [val[i] for i in range(len(val))])
    bar, reported = a3.accuracy_bar(P, seed=0)
    assert reported == baseline and bar == pytest.approx(baseline + 0.05)
    assert bar > 1 / 14 + 0.10  # above the old bar of chance + 10 points
    assert a3.accuracy_bar("smoke") is None

    config = TrainConfig(epochs=4, batch_size=32, images_per_class=100)
    history = [dict(r) for r in a3.EXAMPLE_HISTORY]
    item = "beats the colour baseline"
    history[-1]["val_top1"] = bar - 0.01
    report = a3.check_run({"P": P, "config": config, "history": history})
    feedback = _feedback(report, item)
    assert not next(i for i in report.items if i.name == item).passed
    assert f"the bar is {bar:.1%}: chapter 0's colour-statistics baseline ({baseline:.1%}" in feedback
    assert "has learned nothing about texture or shape" in feedback and "recipe('alexnet'" in feedback
    history[-1]["val_top1"] = bar + 0.01
    report = a3.check_run({"P": P, "config": config, "history": history})
    assert next(i for i in report.items if i.name == item).passed
    report = a3.check_run({"P": a3.get_profile("smoke"), "config": config, "history": history})
    assert "not judged under the smoke profile" in _feedback(report, item)


def _fake_analyzer():
    speed = pd.DataFrame(
        [
            {
                "model": m,
                "mode": mode,
                "batch": 1,
                "size": 64,
                "median_ms": ms * f,
                "q25_ms": ms * f * 0.9,
                "q75_ms": ms * f * 1.1,
                "ms_per_item": ms * f,
            }
            for m, ms in (("alexnet", 2.0), ("vgg16", 9.0), ("squeezenet1_1", 3.0))
            for mode, f in (("features", 0.5), ("lpips", 1.0))
        ]
    )
    two_afc = pd.DataFrame(
        [
            {"metric": m, "two_afc": q, "ci_low": q - 0.05, "ci_high": q + 0.05}
            for m, q in (("alexnet", 0.70), ("vgg16", 0.80), ("squeezenet1_1", 0.65), ("L2", 0.6))
        ]
    )
    config = SimpleNamespace(image_size=64, models=("alexnet", "vgg16", "squeezenet1_1"))
    return SimpleNamespace(config=config, results={"speed": speed, "two_afc": two_afc})


def test_a4_checks_follow_the_students_own_measurements():
    analyzer = _fake_analyzer()
    reference = a4.measured_table(analyzer)
    assert a4.pareto(reference) == ["alexnet", "vgg16"]
    assert a4.best_within(reference, 5.0) == "alexnet" and a4.best_within(reference, 1.0) is None

    def features_latency(analyzer):
        s = analyzer.results["speed"]
        t = s[s["mode"] == "features"].set_index("model")[["median_ms"]].rename(columns={"median_ms": "latency_ms"})
        t["quality"] = analyzer.results["two_afc"].set_index("metric")["two_afc"]
        return t

    namespace = {
        "analyzer": analyzer,
        "tradeoff_table": features_latency,
        "pareto_front": lambda t: list(t.index),
        "pick_model": lambda t, b: t["latency_ms"].idxmin(),
    }
    report = a4.check_table(namespace)
    assert "mode='features'" in _feedback(report, "latency_ms") and report.score == 2
    report = a4.check_pareto(namespace)
    assert "squeezenet1_1 is dominated by alexnet" in _feedback(report, "no dominated network")
    report = a4.check_pick(namespace)
    assert "not the fastest" in _feedback(report, "best quality within the budget")
    assert "expected None" in _feedback(report, "None when nothing fits")


@pytest.mark.notebooks
def test_a_cell_that_times_out_is_interrupted_and_the_notebook_still_gets_a_report(tmp_path):
    cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(30)"), nbformat.v4.new_code_cell("after = 1")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["lpips_edu"] = {"assignment": "a1"}
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, str(path))
    executed = tmp_path / "executed.ipynb"
    report = grade_notebook(path, profile="smoke", timeout=2, executed_path=executed)
    assert report.score == 0 and report.max_score == 16
    assert any("cell 0 was interrupted after 2 s" in note for note in report.notes), report.notes
    after = next(c for c in nbformat.read(executed, as_version=4).cells if c.source == "after = 1")
    assert after.execution_count is not None and not after.outputs  # the cell after it ran

"""The "Be the observer" set, judgement files, their scoring and ``python -m lpips_edu observers``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from repo_layout import BUILD

from lpips_edu import LPIPS, resolve_backbone
from lpips_edu.__main__ import main
from lpips_edu.calibrate.baselines import dssim_distance, l2_distance
from lpips_edu.calibrate.datasets import load_image
from lpips_edu.observers import answers as metric_answers_module
from lpips_edu.observers import page
from lpips_edu.observers.agreement import ceiling, observer_agreement, score_metrics
from lpips_edu.observers.answers import METRICS, AnsweredSet, MetricAnswers, load_set_json, metric_answers
from lpips_edu.observers.judgements import (
    FORMAT,
    FORMAT_VERSION,
    JudgementFileError,
    parse_judgement_file,
    read_judgements,
    simulated_observer,
)
from lpips_edu.observers.observer_set import N_TRIPLETS, PAIRINGS, build_set, recipe, set_version

TOY = SimpleNamespace(version="0123456789ab", ids=("t00", "t01", "t02"))


def judgement_file(path, answers, session="s1", set_version=TOY.version, **extra):
    """Write a file the way the page does: answers is [(triplet, choice, ms), ...]."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "set": "be-the-observer",
              "set_version": set_version, "session": session, "created": "2026-12-02T10:00:00Z",
              "judgements": [{"triplet": t, "choice": c, "ms": ms} for t, c, ms in answers], **extra}
    path.write_text(json.dumps(record))
    return path


@pytest.fixture(scope="module")
def small_set():
    """Four triplets of the book's recipe: the same construction, built in a second."""
    return build_set(recipe(4))


# ----------------------------------------------------------------------------- the set


def test_the_recipe_is_fixed_and_its_hash_is_the_version():
    triplets = recipe()
    assert triplets == recipe() and len(triplets) == N_TRIPLETS
    assert len({t["id"] for t in triplets}) == N_TRIPLETS
    assert all(t["a"] != t["b"] for t in triplets), "every triplet pits two kinds of distortion"
    assert {(t["a"], t["b"]) for t in triplets} == {(a, b) for a, _, b in PAIRINGS}
    changed = [dict(t) for t in triplets]
    changed[7]["strength_a"] += 0.01
    assert set_version(changed) != set_version(triplets) and len(set_version(triplets)) == 12


def test_the_images_are_8_bit_and_candidates_follow_the_recipe(small_set):
    assert small_set.ref.shape == small_set.p0.shape == small_set.p1.shape == (4, 3, 64, 64)
    for images in (small_set.ref, small_set.p0, small_set.p1):
        assert torch.equal(torch.round(images * 255) / 255, images)
    for i, t in enumerate(small_set.triplets):
        a, b = (small_set.p1[i], small_set.p0[i]) if t["a_is_p1"] else (small_set.p0[i], small_set.p1[i])
        ratio = float((b - small_set.ref[i]).square().mean() / (a - small_set.ref[i]).square().mean())
        assert ratio == pytest.approx(t["pixel_ratio"], rel=1e-6)
        assert small_set.candidates(t)[1 if t["a_is_p1"] else 0].startswith(t["a"])


# ----------------------------------------------------------------------------- reading files


def test_h_is_the_fraction_of_observers_who_chose_p1(tmp_path):
    files = [judgement_file(tmp_path / "a.json", [("t00", "p1", 900), ("t01", "p0", 800)], "a"),
             judgement_file(tmp_path / "b.json", [("t00", "p1", 700), ("t01", "p1", 600)], "b"),
             judgement_file(tmp_path / "c.json", [("t00", "p0", 500)], "c")]
    judgements = read_judgements(files, TOY)
    assert judgements.counts.tolist() == [3, 2, 0]
    assert judgements.h[:2].tolist() == pytest.approx([2 / 3, 1 / 2]) and np.isnan(judgements.h[2])
    assert judgements.answered.tolist() == [0, 1]
    assert judgements.times_ms[1, 0] == 700 and judgements.simulated == (False, False, False)


def test_judgements_become_a_2afc_dataset_of_the_set(tmp_path, small_set):
    path = judgement_file(tmp_path / "a.json", [("t00", "p1", 900), ("t02", "p0", 800)],
                          set_version=small_set.version)
    data = read_judgements([path], small_set).as_2afc(small_set)
    assert len(data) == 2 and data.judge.flatten().tolist() == [1.0, 0.0]
    assert torch.equal(data.p1[1], small_set.p1[2]) and data.meta[1]["id"] == "t02"


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("  \n", "is empty"),
    ('{"format": "lpips-edu/observer-judgements", "judgements": [', "is not valid JSON"),
    ("[1, 2, 3]", "is not a judgement file"),
    ('{"format": "lpips-edu/observer-judgements", "format_version": 7}', "format version 7"),
])
def test_a_broken_file_gets_a_clear_error(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(JudgementFileError, match=message) as error:
        read_judgements([path], TOY)
    assert "broken.json" in str(error.value)


@pytest.mark.parametrize("answers, message", [
    ([], "holds no judgements"),
    ([("t00", "left", 10)], "not 'p0' or 'p1'"),
    ([("t00", "p0", -1)], "no valid response time"),
    ([("t00", "p0", 10), ("t00", "p1", 20)], "answers triplet t00 twice"),
    ([("t99", "p0", 10)], r"names triplet\(s\) \['t99'\]"),
])
def test_wrong_answers_get_a_clear_error(tmp_path, answers, message):
    path = judgement_file(tmp_path / "bad.json", answers)
    with pytest.raises(JudgementFileError, match=message):
        read_judgements([path], TOY)


def test_a_file_from_another_version_of_the_set_is_refused(tmp_path):
    path = judgement_file(tmp_path / "old.json", [("t00", "p0", 10)], set_version="ffffffffffff")
    with pytest.raises(JudgementFileError, match="version ffffffffffff of the triplet set.*--set"):
        read_judgements([path], TOY)


def test_duplicate_submissions_are_detected(tmp_path):
    first = judgement_file(tmp_path / "first.json", [("t00", "p0", 10), ("t01", "p1", 20)], "s1")
    copy = tmp_path / "copy.json"
    copy.write_text(first.read_text())
    renamed = judgement_file(tmp_path / "renamed.json", [("t01", "p1", 20), ("t00", "p0", 10)], "s2")
    for second in (copy, renamed):  # the same session, or the same answers and times
        with pytest.raises(JudgementFileError, match="repeats .*first.json"):
            read_judgements([first, second], TOY)
    kept = read_judgements([first, copy, renamed], TOY, skip_duplicates=True)
    assert kept.files == (str(first),) and len(kept.skipped_duplicates) == 2
    with pytest.raises(JudgementFileError, match="no judgement files"):
        read_judgements([], TOY)


# ----------------------------------------------------------------------------- scoring


def toy_answers() -> AnsweredSet:
    metrics = {"good": MetricAnswers("good", "good", "", None, np.array([2.0, 1.0, 5.0]), np.array([1.0, 2.0, 5.0])),
               "bad": MetricAnswers("bad", "bad", "", None, np.array([1.0, 2.0, 1.0]), np.array([2.0, 1.0, 2.0]))}
    return AnsweredSet(TOY.version, TOY.ids, metrics, "toy")


def test_metrics_are_scored_like_2afc_with_ties_counting_half(tmp_path):
    files = [judgement_file(tmp_path / f"{k}.json", answers, f"s{k}") for k, answers in enumerate([
        [("t00", "p1", 1), ("t01", "p0", 1), ("t02", "p1", 1)],
        [("t00", "p1", 2), ("t01", "p0", 2), ("t02", "p0", 2)],
        [("t00", "p0", 3), ("t01", "p0", 3), ("t02", "p0", 3)]])]
    judgements = read_judgements(files, TOY)  # h = 2/3, 0, 1/3
    scores = {s.name: s for s in score_metrics(judgements, toy_answers(), n_resamples=200)}
    # good picks p1, p0 and ties on t02: (2/3 + 1 + 1/2) / 3; bad picks p0, p1, p0: (1/3 + 0 + 2/3) / 3
    assert scores["good"].score == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    assert scores["bad"].score == pytest.approx((1 / 3 + 0 + 2 / 3) / 3)
    assert scores["good"].low <= scores["good"].score <= scores["good"].high
    assert ceiling(judgements).score == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    # two random observers of three agree with probability (k(k-1) + (n-k)(n-k-1)) / (n(n-1))
    assert observer_agreement(judgements).score == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert observer_agreement(read_judgements(files[:1], TOY)) is None


def test_a_simulated_observer_follows_its_metric_and_says_it_is_simulated(tmp_path):
    d0, d1 = np.array([1.0, 3.0, 2.0]), np.array([2.0, 1.0, 2.5])
    record = simulated_observer(d0, d1, TOY.ids, TOY.version, noise=1e-3, lapse=0.0, seed=3, label="toy")
    assert record == simulated_observer(d0, d1, TOY.ids, TOY.version, noise=1e-3, lapse=0.0, seed=3, label="toy")
    assert {i["triplet"]: i["choice"] for i in record["judgements"]} == {"t00": "p0", "t01": "p1", "t02": "p0"}
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(record))
    assert parse_judgement_file(path)["simulated"].startswith("follows toy")
    assert read_judgements([path], TOY).simulated == (True,)


# ----------------------------------------------------------------------------- the page's answers


def distances_from_pngs(folder, record):
    """Every metric's distances recomputed from the PNG files, without the observer code."""
    load = lambda role: torch.stack([load_image(folder / t["files"][role], None) for t in record["triplets"]])  # noqa: E731
    ref, p0, p1 = load("ref"), load("p0"), load("p1")
    out = {"L2": (l2_distance(ref, p0), l2_distance(ref, p1)),
           "SSIM": (dssim_distance(ref, p0), dssim_distance(ref, p1))}
    with torch.no_grad():
        for m in record["metrics"]:
            if m["name"].startswith("LPIPS "):
                net = m["name"].split()[1]
                metric = LPIPS(net=net, backbone=resolve_backbone(net, m["weights"]).model)  # the paper's heads
                out[m["name"]] = (metric(ref, p0, normalize=True).flatten(), metric(ref, p1, normalize=True).flatten())
    return {name: (d0.double().numpy(), d1.double().numpy()) for name, (d0, d1) in out.items()}


def test_the_answers_embedded_in_the_page_are_what_the_package_computes(tmp_path, small_set):
    answers = metric_answers(small_set)
    folder = tmp_path / "observer"
    record = page.write_page_files(folder, small_set, answers)
    assert json.loads((folder / "set.json").read_text()) == record
    assert page.folder_size(folder)[0] == 3 * len(small_set.triplets) + 1
    assert torch.equal(load_image(folder / "t01_p1.png", None), small_set.p1[1])  # the PNGs are the pixels measured
    recomputed = distances_from_pngs(folder, record)
    embedded = {m["name"]: (np.array(m["d0"]), np.array(m["d1"])) for m in record["metrics"]}
    assert embedded.keys() == recomputed.keys() == set(METRICS)
    for name, (d0, d1) in recomputed.items():
        np.testing.assert_allclose(embedded[name][0], d0, rtol=1e-5, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(embedded[name][1], d1, rtol=1e-5, atol=1e-7, err_msg=name)
    loaded = load_set_json(folder / "set.json")
    assert loaded.version == small_set.version and loaded.ids == tuple(small_set.ids)
    assert record["judgement_format"] == {"format": FORMAT, "format_version": FORMAT_VERSION}
    page.write_page_files(folder, small_set, answers)  # a second build replaces the folder whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["observer"]


def test_the_built_book_embeds_what_the_package_computes():
    folder = BUILD / "html" / "_static" / "observer"
    if not (folder / "set.json").is_file():
        pytest.skip("the book is not built: run `make book` first")
    from lpips_edu.models.backbones import available_weights

    record = json.loads((folder / "set.json").read_text())
    assert record["version"] == set_version(recipe()), "the built book is of another version of the set"
    # A book-trained backbone may have been retrained since that build; the others are fixed files.
    record["metrics"] = [m for m in record["metrics"] if m["weights"] is None or m["weights"] != "book"
                         and m["weights"] in available_weights(m["name"].split()[-1])]
    recomputed = distances_from_pngs(folder, record)
    assert {"L2", "SSIM"} <= recomputed.keys()
    for m in record["metrics"]:
        np.testing.assert_allclose(m["d0"], recomputed[m["name"]][0], rtol=1e-5, atol=1e-7, err_msg=m["name"])
        np.testing.assert_allclose(m["d1"], recomputed[m["name"]][1], rtol=1e-5, atol=1e-7, err_msg=m["name"])


# ----------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def page_folder(tmp_path_factory, small_set):
    folder = tmp_path_factory.mktemp("book") / "observer"
    answers = {name: m for name, m in metric_answers(small_set, ("L2", "SSIM", "LPIPS alex")).items()}
    page.write_page_files(folder, small_set, answers)
    return folder


def test_observers_score_prints_every_metric_the_ceiling_and_the_agreement(tmp_path, page_folder, small_set, capsys):
    files = [judgement_file(tmp_path / f"o{k}.json", [(t, "p1" if (k + j) % 3 else "p0", 1000 + k)
                                                      for j, t in enumerate(small_set.ids)], f"s{k}",
                            set_version=small_set.version) for k in range(3)]
    assert main(["observers", "score", *map(str, files), "--set", str(page_folder / "set.json")]) == 0
    out = capsys.readouterr().out
    assert "3 observer file(s); 4 of 4 triplets answered, by 3 to 3 observers" in out
    for label in ("L2", "SSIM", "LPIPS alex (", "ceiling (the majority's answer)", "two observers agree"):
        assert any(line.startswith(label) for line in out.splitlines()), label
    answered = load_set_json(page_folder / "set.json")
    expected = score_metrics(read_judgements(files, answered), answered)
    for score in expected:
        assert f"{score.score:6.3f}  {score.low:.3f} - {score.high:.3f}" in out


def test_observers_score_without_a_set_rebuilds_it_from_the_package(tmp_path, page_folder, small_set, monkeypatch,
                                                                     capsys):
    answered = load_set_json(page_folder / "set.json")
    monkeypatch.setattr(metric_answers_module, "answered_set", lambda seed=0: answered)  # the full set takes a while
    path = judgement_file(tmp_path / "me.json", [("t00", "p1", 5)], set_version=small_set.version)
    assert main(["observers", "score", str(path)]) == 0
    assert "(needs two observers of a triplet)" in capsys.readouterr().out


def test_observers_score_reports_a_bad_file_and_fails(tmp_path, page_folder, small_set, capsys):
    good = judgement_file(tmp_path / "good.json", [("t00", "p1", 5)], set_version=small_set.version)
    wrong = judgement_file(tmp_path / "wrong.json", [("t00", "p1", 5)], "s2", set_version="aaaaaaaaaaaa")
    assert main(["observers", "score", str(good), str(wrong), "--set", str(page_folder / "set.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "wrong.json" in err and "version aaaaaaaaaaaa" in err
    assert main(["observers", "score", str(good), "--set", str(tmp_path / "missing.json")]) == 1
    assert "_static/observer/set.json" in capsys.readouterr().err
    copy = tmp_path / "copy.json"
    copy.write_text(good.read_text())
    assert main(["observers", "score", str(good), str(copy), "--set", str(page_folder / "set.json")]) == 1
    assert main(["observers", "score", str(good), str(copy), "--skip-duplicates",
                 "--set", str(page_folder / "set.json")]) == 0
    assert "left out (a repeated submission)" in capsys.readouterr().out

"""Calibration: scoring, heads and training against the reference ``lpips`` package; BAPPS loading."""

from __future__ import annotations

import copy

import lpips
import numpy as np
import pytest
import torch
from lpips.trainer import score_2afc_dataset as reference_score_2afc
from lpips.trainer import score_jnd_dataset as reference_score_jnd

from lpips_edu import calibrate as C
from lpips_edu.calibrate import heads as H
from lpips_edu.calibrate import training as T
from lpips_edu.lpips import LPIPS
from lpips_edu.lpips.linear_heads import head_modules


class FakeLoader:
    """What the reference scoring functions iterate over: ``load_data()`` yielding batches."""

    def __init__(self, batches):
        self.batches = batches

    def load_data(self):
        return self.batches


def _batches_2afc(d0, d1, gts, size=16):
    # Distances ride along as fake "images": the distance function just reads them back.
    out = []
    for i in range(0, len(d0), size):
        out.append({"ref": torch.zeros(len(d0[i:i + size])), "p0": torch.tensor(d0[i:i + size]),
                    "p1": torch.tensor(d1[i:i + size]), "judge": torch.tensor(gts[i:i + size]).view(-1, 1)})
    return out


def metric_on(net: str, backbone: str = "random", heads="official", seed: int = 0) -> LPIPS:
    """The metric a calibration run trains: LPIPS on a kind of backbone weights, seeded."""
    return LPIPS(net, backbone=backbone, heads=heads, seed=seed)


def test_2afc_score_equals_reference_including_ties():
    rng = np.random.default_rng(0)
    d0 = rng.integers(0, 5, 100).astype(np.float32)  # small integers: many ties
    d1 = rng.integers(0, 5, 100).astype(np.float32)
    gts = rng.random(100).astype(np.float32)
    batches = _batches_2afc(d0, d1, gts)
    distance = lambda ref, p: p.view(-1, 1, 1, 1)  # noqa: E731  (LPIPS-shaped output)
    ref_score, ref_details = reference_score_2afc(FakeLoader(batches), distance)
    ours, details = C.score_2afc(batches, distance)
    assert ours == pytest.approx(ref_score, abs=1e-12)
    np.testing.assert_allclose(details["scores"], ref_details["scores"])


def _jnd_batches(ds, sames, size=10, shape=(-1, 1, 1, 1)):
    return [{"p0": torch.zeros(len(ds[i:i + size])), "p1": torch.tensor(ds[i:i + size]).view(*shape),
             "same": torch.tensor(sames[i:i + size]).view(-1, 1)} for i in range(0, len(ds), size)]


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_jnd_reference_bug_and_fix():
    rng = np.random.default_rng(1)
    ds = rng.random(60).astype(np.float32)
    sames = (ds < 0.3).astype(np.float32)  # a perfect metric: every "same" pair has a small distance
    sames[0] = 0.0  # ... and the first pair, the only one the buggy code looks at, is "different"
    lpips_shaped = lambda p0, p1: p1  # noqa: E731  N x 1 x 1 x 1, as LPIPS returns
    buggy, _ = reference_score_jnd(FakeLoader(_jnd_batches(ds, sames)), lpips_shaped)
    ours, _ = C.score_jnd(_jnd_batches(ds, sames), lpips_shaped)
    # With flat distances the reference is right, and we equal it.
    fixed, _ = reference_score_jnd(FakeLoader(_jnd_batches(ds, sames, shape=(-1,))), lambda p0, p1: p1)
    assert ours == pytest.approx(fixed, abs=1e-12)
    assert ours == pytest.approx(1.0, abs=1e-9)  # a perfect ranking has mAP 1
    # Unflattened, the reference sorts along a length-1 axis: every index is 0, only pair 0 counts.
    assert np.isnan(buggy)  # pair 0 is "different": no true positive anywhere, recall 0/0
    sames[0] = 0.4
    buggy, _ = reference_score_jnd(FakeLoader(_jnd_batches(ds, sames)), lpips_shaped)
    ours, _ = C.score_jnd(_jnd_batches(ds, sames), lpips_shaped)
    assert buggy == pytest.approx(0.4)  # constant precision sames[0], whatever the metric
    assert ours > 0.9


def test_jnd_map_equals_reference_on_soft_labels():
    rng = np.random.default_rng(2)
    ds, sames = rng.random(200), rng.random(200)
    ref, _ = reference_score_jnd(FakeLoader(_jnd_batches(ds, sames, shape=(-1,))), lambda p0, p1: p1)
    assert C.jnd_map(ds, sames) == pytest.approx(ref, abs=1e-12)


def test_voc_ap_equals_reference():
    rng = np.random.default_rng(3)
    for _ in range(5):
        rec = np.sort(rng.random(30))
        prec = rng.random(30)
        assert C.voc_ap(rec, prec) == pytest.approx(lpips.voc_ap(rec, prec), abs=1e-12)


def test_distance_with_wrong_count_is_an_error():
    batches = _batches_2afc(np.ones(4, np.float32), np.ones(4, np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="one distance per pair"):
        C.score_2afc(batches, lambda ref, p: torch.zeros(2))


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(4)
    small, large = rng.random(50) < 0.7, rng.random(5000) < 0.7
    lo, hi = C.bootstrap_ci(small)
    assert lo < small.mean() < hi
    lo2, hi2 = C.bootstrap_ci(large)
    assert hi2 - lo2 < hi - lo


def test_dist2logit_and_ranking_loss_equal_reference():
    torch.manual_seed(0)
    reference = lpips.BCERankingLoss()
    ours = C.BCERankingLoss()
    ours.net.load_state_dict(reference.net.state_dict(), strict=True)
    d0, d1 = torch.rand(8, 1, 1, 1), torch.rand(8, 1, 1, 1)
    judge = torch.rand(8, 1, 1, 1)
    torch.testing.assert_close(ours.net(d0, d1), reference.net(d0, d1))
    torch.testing.assert_close(ours(d0, d1, judge), reference(d0, d1, judge * 2 - 1))


@pytest.fixture(scope="module")
def triplets():
    config = C.BenchmarkConfig(distortions=("gaussian_noise", "blur", "jpeg", "shift"))
    return C.offline_2afc_splits(24, 8, seed=0, config=config)


def test_offline_benchmark_is_deterministic_and_split_by_photo(triplets):
    train, val = triplets
    again, _ = C.offline_2afc_splits(
        24, 8, seed=0, config=C.BenchmarkConfig(distortions=("gaussian_noise", "blur", "jpeg", "shift"))
    )
    torch.testing.assert_close(train.p0, again.p0, atol=0, rtol=0)
    assert {m["image"] for m in train.meta}.isdisjoint({m["image"] for m in val.meta})
    assert train.ref.shape == (24, 3, 64, 64) and 0 <= train.ref.min() and train.ref.max() <= 1
    for m, judge in zip(train.meta, train.judge.flatten()):
        assert m["weak"] < m["strong"] and judge == float(m["weak_is_p1"])


def test_offline_benchmark_ground_truth_agrees_with_l2_on_noise_and_blur(triplets):
    # By construction the weaker distortion is closer; for noise and blur L2 must agree (scikit-image's MSE).
    from skimage.metrics import mean_squared_error

    train, _ = triplets
    for i, m in enumerate(train.meta):
        if m["distortion"] in ("gaussian_noise", "blur"):
            e0 = mean_squared_error(train.ref[i].numpy(), train.p0[i].numpy())
            e1 = mean_squared_error(train.ref[i].numpy(), train.p1[i].numpy())
            assert (e1 < e0) == bool(train.judge[i])


def test_bapps_tree_round_trip_and_scores(tmp_path, triplets):
    train, _ = triplets
    same = np.linspace(0, 1, 5)
    root = C.write_bapps_tree(tmp_path, train, jnd=(train.p0[:5], train.p1[:5], same), split="val", subset="tiny")
    data = C.TwoAFCDataset(root, "val", "tiny")
    assert len(data) == len(train)
    item = data[3]
    assert set(item) == {"ref", "p0", "p1", "judge"} and item["judge"].shape == (1,)
    torch.testing.assert_close(item["p1"], train.p1[3], atol=0.5 / 255 + 1e-6, rtol=0)
    score_disk, _ = C.score_2afc(data, C.l2_distance, batch_size=7)
    score_memory, _ = C.score_2afc(train, C.l2_distance)
    assert score_disk == pytest.approx(score_memory, abs=1 / len(train) + 1e-9)
    jnd = C.JNDDataset(root, "val")  # subsets=None: all present
    assert len(jnd) == 5 and float(jnd[4]["same"]) == pytest.approx(1.0)


def test_bapps_errors_name_the_problem(tmp_path, triplets):
    train, _ = triplets
    with pytest.raises(FileNotFoundError, match="2afc/<split>/<subset>"):
        C.TwoAFCDataset(tmp_path / "nowhere")
    root = C.write_bapps_tree(tmp_path / "a", train, subset="tiny")
    (root / "2afc" / "val" / "tiny" / "judge" / "000002.npy").unlink()
    with pytest.raises(ValueError, match=r"missing \['000002'\]"):
        C.TwoAFCDataset(root, "val", "tiny")
    root = C.write_bapps_tree(tmp_path / "b", train, subset="tiny")
    for f in (root / "2afc" / "val" / "tiny" / "p1").iterdir():
        f.unlink()
    (root / "2afc" / "val" / "tiny" / "p1").rmdir()
    with pytest.raises(FileNotFoundError, match=r"lacks the folder\(s\) \['p1'\]"):
        C.TwoAFCDataset(root, "val", "tiny")


def test_baselines_match_scikit_image(triplets):
    from skimage.metrics import mean_squared_error, structural_similarity

    train, _ = triplets
    a, b = train.ref[:2], train.p0[:2]
    np.testing.assert_allclose(C.l2_distance(a, b)[0].item(), mean_squared_error(a[0].numpy(), b[0].numpy()), rtol=1e-5)
    expected = structural_similarity(
        a[0].permute(1, 2, 0).numpy(), b[0].permute(1, 2, 0).numpy(), data_range=1.0, channel_axis=-1
    )
    np.testing.assert_allclose(C.ssim(a, b)[0].item(), expected, rtol=1e-5)


def test_saved_heads_load_into_the_reference_lpips(tmp_path):
    torch.manual_seed(0)
    metric = metric_on("alex", "random", "fresh", seed=0)
    H.reset_heads(metric, seed=1)
    H.clamp_heads(metric)
    path = C.save_heads(metric, tmp_path / "heads" / "alex.pth")
    official = torch.load(lpips.__path__[0] + "/weights/v0.1/alex.pth", map_location="cpu", weights_only=True)
    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert set(saved) == set(official) and all(saved[k].shape == official[k].shape for k in official)
    x0, x1 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    expected = metric(x0, x1, normalize=True)
    # 1. the reference lpips.LPIPS reads the file; give it our random backbone (slice K, layer I = features.I)
    reference = lpips.LPIPS(net="alex", pnet_rand=True, model_path=str(path), verbose=False).eval()
    ours = metric.state_dict()
    backbone = {}
    for key in reference.net.state_dict():
        _, index, rest = key.split(".", 2)  # "slice2.3.weight" -> features.3.weight
        match = [k for k in ours if k.endswith(f"features.{index}.{rest}")]
        assert len(match) == 1, key
        backbone[key] = ours[match[0]]
    reference.net.load_state_dict(backbone, strict=True)
    torch.testing.assert_close(reference(x0, x1, normalize=True), expected, rtol=1e-4, atol=1e-6)
    # 2. the metric reads it as heads=PATH (model_path= in the lpips package's spelling)
    reloaded = metric_on("alex", "random", heads=path, seed=0)
    assert path.name in reloaded.weights_description and str(path.parent) not in reloaded.weights_description
    torch.testing.assert_close(reloaded(x0, x1, normalize=True), expected, rtol=1e-5, atol=1e-7)
    # 3. and load_heads puts it into any metric with lin* heads
    heads_only = copy.deepcopy(metric)
    H.reset_heads(heads_only, seed=2)
    C.load_heads(heads_only, path)
    torch.testing.assert_close(heads_only(x0, x1, normalize=True), expected)
    with pytest.raises(ValueError, match="do not fit another"):
        squeeze = metric_on("squeeze", "random", "fresh")
        C.load_heads(squeeze, path)


def test_one_training_step_equals_the_reference_trainer():
    # The reference Trainer, CPU, random AlexNet, heads from scratch; dropout off so both steps are deterministic.
    torch.manual_seed(0)
    trainer = lpips.Trainer()
    trainer.initialize(model="lpips", net="alex", pnet_rand=True, is_train=True, use_gpu=False)
    for module in list(trainer.net.modules()) + list(trainer.rankLoss.modules()):
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    ours = copy.deepcopy(trainer.net)
    rank_loss = C.BCERankingLoss()
    rank_loss.net.load_state_dict(trainer.rankLoss.net.state_dict())
    params = T.prepare(ours, "lin")
    optimizer = T.make_optimizer(params, rank_loss, C.HeadTrainingConfig())
    torch.manual_seed(1)
    batch = {k: torch.rand(4, 3, 64, 64) for k in ("ref", "p0", "p1")}
    batch["judge"] = torch.rand(4, 1)
    trainer.set_input({k: (v * 2 - 1 if k != "judge" else v) for k, v in batch.items()})  # reference wants [-1, 1]
    trainer.optimize_parameters()
    T.training_step(ours, rank_loss, optimizer, batch)
    for k in range(5):
        torch.testing.assert_close(
            getattr(ours, f"lin{k}").model[1].weight, getattr(trainer.net, f"lin{k}").model[1].weight
        )
    assert all((conv.weight >= 0).all() for conv in head_modules(ours).values())


@pytest.mark.parametrize("variant", T.VARIANTS)
def test_training_variants_touch_the_right_parameters(variant, triplets):
    train, val = (torch.utils.data.Subset(t, range(8)) for t in triplets)  # small: the full metric runs every step
    metric = metric_on("alex", "random", "fresh", seed=0)
    before = {k: v.clone() for k, v in metric.state_dict().items()}
    config = C.HeadTrainingConfig(variant=variant, epochs=1, decay_epochs=2, batch_size=4)
    history = C.train_heads(metric, train, config, val_set=val, progress=False)
    assert [round(r["lr"], 10) for r in history] == [1e-4, 1e-4, 5e-5]  # constant, then linear decay
    assert 0 <= history[-1]["val_2afc"] <= 1
    after = metric.state_dict()
    backbone_changed = any(not torch.equal(before[k], after[k]) for k in before if not k.startswith("lin"))
    assert backbone_changed == (variant != "lin")
    assert all((conv.weight >= 0).all() for conv in head_modules(metric).values())
    assert not any(p.requires_grad for p in metric.parameters())


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match="unknown variant"):
        T.prepare(metric_on("alex"), "finetune")
    with pytest.raises(ValueError, match="unknown net"):
        metric_on("resnet")
    with pytest.raises(ValueError, match="unknown distortion"):
        C.make_offline_2afc(2, ["astronaut"], config=C.BenchmarkConfig(distortions=("sepia",)))


def test_cached_distance_equals_the_metric(triplets):
    from lpips_edu.calibrate.cached import cached_distance, channel_mean_diffs

    metric = metric_on("alex", "random", "official")
    train, _ = triplets
    x0, x1 = train.ref[:6], train.p0[:6]
    expected = metric(x0, x1, normalize=True).flatten()
    torch.testing.assert_close(
        cached_distance(metric, channel_mean_diffs(metric, x0, x1)), expected, rtol=1e-4, atol=1e-6
    )


def test_the_lpips_package_trains_in_full_and_the_cache_says_why(triplets):
    from lpips_edu.calibrate.cached import cache_triplets

    torch.manual_seed(0)
    peer = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    train = torch.utils.data.Subset(triplets[0], range(4))
    history = C.train_heads(peer, train, C.HeadTrainingConfig(epochs=1, decay_epochs=0, batch_size=4),
                            progress=False)  # cache defaults to off for a metric that is not lpips_edu.LPIPS
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    with pytest.raises(TypeError, match="cache=False"):
        cache_triplets(peer, train)


def test_cached_and_full_lin_training_agree_without_dropout(triplets):
    train, val = triplets
    scores = []
    for cache in (True, False):
        metric = metric_on("alex", "random", "fresh", seed=0)
        for module in metric.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        config = C.HeadTrainingConfig(epochs=1, decay_epochs=1, batch_size=len(train), lr=1e-2)  # one batch: order-free
        history = C.train_heads(metric, train, config, val_set=val, progress=False, cache=cache)
        scores.append((history[-1]["loss"], C.heads_state_dict(metric)))
    assert scores[0][0] == pytest.approx(scores[1][0], rel=1e-3)
    for k, v in scores[0][1].items():
        torch.testing.assert_close(v, scores[1][1][k], rtol=1e-3, atol=1e-5)


def test_backbone_choices_say_what_they_used(tmp_path, monkeypatch):
    monkeypatch.setenv("LPIPS_EDU_RUNS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no book-trained checkpoint"):
        metric_on("alex", "book")
    with pytest.raises(ValueError, match="unknown backbone"):
        metric_on("alex", "pretrained")
    # a book checkpoint (here: a random AlexNet saved the way the trainer does) is found and used
    from lpips_edu import models

    (tmp_path / "alexnet").mkdir()
    torch.save({"model": models.build("alexnet", num_classes=10).state_dict()}, tmp_path / "alexnet" / "checkpoint.pt")
    metric = metric_on("alex", "book")
    assert "trained by this book" in metric.weights_description and "official v0.1" in metric.weights_description
    assert metric(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), normalize=True).shape == (1, 1, 1, 1)


def test_cached_2afc_scores_equal_scoring_the_metric(triplets):
    from lpips_edu.calibrate.cached import cache_triplets, cached_2afc_scores

    _, val = triplets
    data = torch.utils.data.Subset(val, range(min(8, len(val))))
    metric = metric_on("alex", "random", "official", seed=0)
    expected = C.score_2afc(data, lambda a, b: metric(a, b, normalize=True))[1]["scores"]
    np.testing.assert_array_equal(cached_2afc_scores(metric, cache_triplets(metric, data)), expected)


def test_pixel_trap_triplets_punish_pixels_and_say_what_they_hold():
    config = C.BenchmarkConfig(task="pixel-trap")
    data = C.make_offline_2afc(8, ["coffee", "grace_hopper"], seed=1, config=config)
    again = C.make_offline_2afc(8, ["coffee", "grace_hopper"], seed=1, config=config)
    assert torch.equal(data.p0, again.p0) and torch.equal(data.judge, again.judge)
    for m in data.meta:
        assert m["geometric"] in ("shift", "warp") and m["pixel_ratio"] < 1.0  # the visible one has less pixel error
    # the judge picks the geometric change, which L2 calls farther: L2 is wrong on every triplet
    assert C.score_2afc(data, C.l2_distance)[0] == 0.0
    assert sorted({m["geometric_is_p1"] for m in data.meta}) == [False, True]
    with pytest.raises(ValueError, match="unknown task"):
        C.make_offline_2afc(2, ["coffee"], config=C.BenchmarkConfig(task="people"))

"""What a chapter writes in the open is what the package runs: the two are tied by equal results.

A chapter's central mechanism (the AlexNet class, VGG's ``make_layers``, the Fire
module, the training loop, the 2AFC loss and the heads' loop, the timing
protocol, the attack) sits in a code cell tagged ``mechanism``. These tests take
those cells from the notebook as they are, run them in a fresh namespace, and
check them against the package on inputs the chapter never used. If either
side changes, a test fails here, whatever the page prints.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
import torch
import torchvision
from repo_layout import REPO

from lpips_edu import models
from lpips_edu.models.vgg import VGG_CONFIGS, make_features

TAG = "mechanism"


def mechanism(chapter: str) -> dict:
    """The namespace left by the ``mechanism`` cells of ``notebooks/<chapter>.ipynb``, run in order."""
    nb = nbformat.read(REPO / "notebooks" / f"{chapter}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    assert cells, f"{chapter} has no cell tagged {TAG!r}"
    namespace: dict = {}
    for source in cells:
        exec(compile(source, f"{chapter}:{TAG}", "exec"), namespace)  # noqa: S102 - the book's own cells
    return namespace


def test_every_mechanism_cell_runs_on_its_own():
    for chapter in ("00_data", "01_alexnet", "02_vgg", "03_squeezenet"):
        assert mechanism(chapter)


@pytest.mark.parametrize("num_classes", [1000, 14])
def test_the_chapters_alexnet_is_torchvisions_and_the_packages(num_classes):
    AlexNet = mechanism("01_alexnet")["AlexNet"]
    torch.manual_seed(1)
    ours = AlexNet(num_classes=num_classes).eval()
    reference = torchvision.models.alexnet(num_classes=num_classes).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    package = models.build("alexnet", num_classes=num_classes).eval()
    package.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 80, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(package(x), ours(x))
        torch.testing.assert_close(reference(x), ours(x))


@pytest.mark.parametrize("config", list(VGG_CONFIGS))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_chapters_make_layers_is_the_packages(config, batch_norm):
    make_layers = mechanism("02_vgg")["make_layers"]
    ours = make_layers(VGG_CONFIGS[config], batch_norm)
    package = make_features(VGG_CONFIGS[config], batch_norm)
    assert [type(m) for m in ours] == [type(m) for m in package]
    package.load_state_dict(ours.state_dict(), strict=True)
    ours.train(), package.train()  # batch norm in training mode: batch statistics, the running ones updated
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(package(x), ours(x), rtol=0, atol=0)
    if batch_norm:
        torch.testing.assert_close(package.state_dict(), ours.state_dict(), rtol=0, atol=0)


def test_the_chapters_fire_module_and_parameter_formula_are_the_packages():
    space = mechanism("03_squeezenet")
    Fire, fire_parameters = space["Fire"], space["fire_parameters"]
    ours = Fire(96, 16, 64, 64)
    package = models.Fire(96, 16, 64, 64)
    package.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 96, 15, 15, generator=torch.Generator().manual_seed(4))
    assert torch.equal(package(x), ours(x))
    for name in ("squeezenet1_0", "squeezenet1_1"):
        for m in models.build(name).features:
            if isinstance(m, models.Fire):
                mine = Fire(m.squeeze.in_channels, m.squeeze.out_channels, m.expand1x1.out_channels,
                            m.expand3x3.out_channels)
                mine.load_state_dict(copy.deepcopy(m.state_dict()), strict=True)  # same names, same shapes
                shape = (m.squeeze.in_channels, m.squeeze.out_channels, m.expand1x1.out_channels,
                         m.expand3x3.out_channels)
                assert fire_parameters(*shape) == sum(p.numel() for p in m.parameters()), shape


def test_the_chapters_colour_baseline_is_the_packages():
    from lpips_edu.data import OfflineImages
    from lpips_edu.data.colour_baseline import colour_baseline_top1

    colour_baseline = mechanism("00_data")["colour_baseline"]
    train, val = OfflineImages("train", 12, 32, seed=5), OfflineImages("val", 6, 32, seed=5)
    train_items, val_items = [train[i] for i in range(len(train))], [val[i] for i in range(len(val))]
    assert colour_baseline(train_items, val_items) == colour_baseline_top1(train_items, val_items)


def test_the_chapters_judge_and_ranking_loss_are_the_packages():
    from lpips_edu.calibrate.heads import BCERankingLoss

    space = mechanism("07_calibration")
    torch.manual_seed(6)
    package = BCERankingLoss()
    judge = space["Judge"]()
    for ours, theirs in zip(judge.parameters(), package.net.parameters()):
        with torch.no_grad():
            ours.copy_(theirs.reshape(ours.shape))
    d0, d1, h = torch.rand(9), torch.rand(9), torch.rand(9)
    torch.testing.assert_close(judge(d0, d1), package.net(d0, d1).flatten())
    torch.testing.assert_close(space["ranking_loss"](judge, d0, d1, h), package(d0, d1, h))


def test_the_chapters_heads_loop_trains_the_heads_train_heads_trains():
    from lpips_edu import LPIPS, calibrate
    from lpips_edu.calibrate.cached import cache_triplets
    from lpips_edu.calibrate.heads import reset_heads
    from lpips_edu.lpips.linear_heads import head_modules

    space = mechanism("07_calibration")
    train, _ = calibrate.offline_2afc_splits(40, 8, seed=7, config=calibrate.BenchmarkConfig(image_size=32))
    config = calibrate.HeadTrainingConfig(epochs=2, decay_epochs=1, batch_size=16, lr=1e-2, seed=7)
    ours_metric = LPIPS("squeeze", backbone="random", heads="fresh", seed=7)
    cache = cache_triplets(ours_metric, train)
    reset_heads(ours_metric, seed=7)
    heads = [c.weight.detach().reshape(-1).clone().requires_grad_() for c in head_modules(ours_metric).values()]
    judge = space["Judge"]()
    space["train_heads_by_hand"](cache, heads, judge, 2, 1, 16, 1e-2, 7, dropout=0.5)
    package_metric = LPIPS("squeeze", backbone="random", heads="fresh", seed=7)
    calibrate.train_heads(package_metric, train, config, progress=False)
    for ours, conv in zip(heads, head_modules(package_metric).values()):
        torch.testing.assert_close(ours.detach(), conv.weight.reshape(-1), rtol=1e-5, atol=1e-6)
    assert all((w >= 0).all() for w in heads) and any((w > 0).any() for w in heads)


@pytest.mark.parametrize("min_seconds", [0.0, 0.004])
def test_the_chapters_timing_protocol_makes_the_calls_time_calls_makes(min_seconds):
    import itertools
    import time

    from lpips_edu.analysis.timing import time_calls

    time_interleaved = mechanism("08_comparison")["time_interleaved"]

    def recorded(protocol):
        log = []
        fns = {name: (lambda n=name: (log.append(n), time.sleep(0.001))) for name in ("a", "b")}
        protocol(fns)
        return log

    ours = recorded(lambda fns: time_interleaved(fns, rounds=4, warmup=2, min_seconds=min_seconds))
    theirs = recorded(lambda fns: time_calls(fns, repeats=4, warmup=2, min_block_s=min_seconds))
    runs = lambda log: [name for name, _ in itertools.groupby(log)]  # noqa: E731 - blocks, whatever their length
    assert runs(ours) == runs(theirs) == ["a", "b"] + ["a", "b"] * 4  # warm-up, then interleaved rounds
    if min_seconds == 0:
        assert ours == theirs  # one call per block: the very same sequence
    times = time_interleaved({"sleep": lambda: time.sleep(0.002)}, rounds=3, warmup=1, min_seconds=min_seconds)
    q25, median, q75 = times["sleep"]
    assert 0.0019 < q25 <= median <= q75 < 0.05


def test_batch_norm_by_hand_is_nn_batchnorm():
    mechanism("02b_training_vgg")  # the cell asserts both modes against nn.BatchNorm2d


@pytest.mark.parametrize("name", ["alexnet", "squeezenet1_1"])
def test_the_chapters_training_loop_is_the_trainers(name, tmp_path):
    """Chapter 1b's loop and the Trainer, everything the Trainer adds switched off: the same loss at every step."""
    from lpips_edu.data import OfflineImages
    from lpips_edu.profiles import seed_everything
    from lpips_edu.train import TrainConfig, Trainer

    space = mechanism("01b_training_alexnet")
    train, val = OfflineImages("train", 3, 64, seed=8), OfflineImages("val", 2, 64, seed=8)
    torch.manual_seed(8)
    model = models.build(name, num_classes=train.num_classes)
    start = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    seed_everything(8)
    losses = []
    for epoch in range(2):
        losses += space["train_epoch"](model, optimizer, train, 12, epoch, 8)
        val_loss, val_top1 = space["evaluate"](model, val)
    config = TrainConfig(model=name, profile="smoke", epochs=2, batch_size=12, optimizer="adamw", lr=1e-3,
                         weight_decay=0.0, schedule="constant", warmup_epochs=0, label_smoothing=0.0, amp="off",
                         channels_last=False, device="cpu", num_workers=0, seed=8, save_checkpoints=False,
                         progress=False, out_dir=str(tmp_path))
    twin = models.build(name, num_classes=train.num_classes)
    twin.load_state_dict(start)
    trainer = Trainer(config, model=twin, train_data=train, val_data=val)
    trainer.fit()
    torch.testing.assert_close(torch.tensor(trainer.step_losses), torch.tensor(losses), rtol=1e-4, atol=1e-5)
    assert trainer.history[-1]["val_loss"] == pytest.approx(val_loss, rel=1e-4)
    assert trainer.history[-1]["val_top1"] == pytest.approx(val_top1, abs=1 / len(val))


def test_the_chapters_attack_is_the_packages():
    """Chapter 7b's PGD cell and lpips_edu.lpips.attack.pgd_flip: the same images, the same flips."""
    from lpips_edu import LPIPS, calibrate
    from lpips_edu.lpips.attack import CachedReference, closer_candidates, pgd_flip, quantize_8bit

    pgd_flip_by_hand = mechanism("07b_where_lpips_fails")["pgd_flip_by_hand"]
    config = calibrate.BenchmarkConfig(image_size=48, gap_range=(0.02, 0.1))
    data = calibrate.make_offline_2afc(10, ["coffee", "rocket", "astronaut"], seed=12, config=config)
    ref, p0, p1 = (quantize_8bit(t) for t in (data.ref, data.p0, data.p1))
    metric = LPIPS("alex", backbone="random", seed=12)
    with torch.no_grad():
        d0, d1 = metric(ref, p0, normalize=True).flatten(), metric(ref, p1, normalize=True).flatten()
    closer, farther, _ = closer_candidates(d0, d1, p0, p1)
    distance = CachedReference(metric, ref)
    for eps, steps in ((1 / 255, 4), (3 / 255, 2)):
        ours, flipped = pgd_flip_by_hand(distance, closer, farther, eps, eps / 2, steps)
        package = pgd_flip(distance, closer, farther, eps, eps / 2, steps)
        assert torch.equal(ours, package.images)
        assert torch.equal(flipped, package.flipped)
    assert package.flipped.any() and not torch.equal(package.images, closer)


def test_the_chapters_blur_pool_is_the_packages():
    from lpips_edu.models.blurpool import BlurPool

    blur_pool_by_hand = mechanism("07b_where_lpips_fails")["blur_pool_by_hand"]
    x = torch.rand(2, 5, 13, 10, generator=torch.Generator().manual_seed(13))
    torch.testing.assert_close(blur_pool_by_hand(x), BlurPool(5, stride=2, filter_size=3)(x), rtol=0, atol=1e-6)

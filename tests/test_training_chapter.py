"""The steps the training chapters share (lpips_edu.chapters.training_chapter) and the figures they draw.

One tiny SqueezeNet run (32 px, smoke recipe: three steps) goes through every
step, in the order a chapter takes them; the prints are what the chapter states.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from lpips_edu.chapters import training_chapter as chapter
from lpips_edu.chapters.curves import HISTORY_COLUMNS, history_table, plot_validation_top1
from lpips_edu.data import OFFLINE_CLASSES
from lpips_edu.paths import trained_checkpoint


@pytest.fixture(autouse=True)
def one_thread_and_no_figures_left():
    """Tiny models gain nothing from a second thread (see tests/test_train.py); close what a step drew."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    plt.close("all")


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LPIPS_EDU_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def squeezenet_config(**changes):
    """The smoke recipe at 32 px, batch 8, in the chapter's own folder (runs/squeezenet1_1)."""
    return chapter.run_config("squeezenet1_1", "smoke", image_size=32, batch_size=8, progress=False, **changes)


def tiny_config(runs, **changes):
    return chapter.side_run(squeezenet_config(), "tiny", save_checkpoints=True, **changes)


def test_run_config_keeps_the_recipe_unless_the_chapter_sets_epochs():
    assert chapter.run_config("alexnet", "cpu").epochs == 6  # train.RECIPES
    assert chapter.run_config("alexnet", "cpu", None).epochs == 6
    assert chapter.run_config("alexnet", "cpu", 1, lr=1e-4).epochs == 1
    table = chapter.config_table(chapter.run_config("alexnet", "cpu"))
    assert table.loc["model", "value"] == "alexnet" and "image_size" not in table.index  # None: from the profile


def test_a_side_run_has_its_own_folder_and_writes_no_checkpoint(runs):
    config = chapter.run_config("alexnet", "cpu")
    side = chapter.side_run(config, "alexnet-from-imagenet", weights="imagenet-features")
    assert side.out_dir == str(runs / "alexnet-from-imagenet") and not side.save_checkpoints
    assert side.weights == "imagenet-features" and side.lr == config.lr and config.weights is None


def test_a_chapter_run_step_by_step(runs, capsys):
    trainer = chapter.train(tiny_config(runs))
    printed = capsys.readouterr().out
    assert f"{len(trainer.train_data)} training and {len(trainer.val_data)} validation images, 14 classes" in printed
    assert f"trained 1 epoch(s), {trainer.step} steps in" in printed and "validation top-1" in printed

    chapter.print_accuracy(trainer)
    printed = capsys.readouterr().out
    assert f"(chance {100 / len(OFFLINE_CLASSES):.1f}%" in printed and "validation top-5" in printed

    chapter.show_learning_curves(trainer)
    probs, labels = chapter.show_per_class_top1(trainer)
    assert probs.shape == (len(trainer.val_data), 14) and labels.shape == (len(trainer.val_data),)
    assert "easiest:" in capsys.readouterr().out
    chapter.show_first_layer(trainer, seed=0)
    assert "relative change of conv1's weights" in capsys.readouterr().out
    chapter.show_predictions(trainer, probs, seed=0)

    chapter.save_and_reload(trainer)  # this run trained in runs/tiny: its weights are written for the chapters
    printed = capsys.readouterr().out
    assert printed.startswith("saved the network after step") and "identical: True" in printed
    assert trained_checkpoint("squeezenet1_1").is_file() and str(trained_checkpoint("squeezenet1_1")) not in printed
    assert trained_checkpoint("squeezenet1_1").is_file()


def test_the_main_runs_last_checkpoint_is_not_written_twice(runs, capsys):
    trainer = chapter.train(squeezenet_config())  # in runs/squeezenet1_1, where the LPIPS chapters look
    path = trained_checkpoint("squeezenet1_1")
    written = path.stat().st_mtime_ns
    capsys.readouterr()
    chapter.save_and_reload(trainer)
    printed = capsys.readouterr().out
    assert f"the Trainer's checkpoint of step {trainer.step} is the chapter's saved network" in printed
    assert "identical: True" in printed
    assert path.stat().st_mtime_ns == written
    resumed = chapter.train(squeezenet_config(resume=True))
    assert resumed.checkpoint_step == resumed.step == trainer.step  # read back: still current
    trainer.step += 1  # as if it had trained on after its last checkpoint
    chapter.save_and_reload(trainer)
    assert capsys.readouterr().out.splitlines()[-2].startswith("saved the network")
    assert path.stat().st_mtime_ns != written


def test_a_resumed_run_says_how_much_was_done_before(runs, capsys):
    chapter.train(tiny_config(runs))
    capsys.readouterr()
    again = chapter.train(tiny_config(runs, resume=True), data_from=None)
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "after 1 epoch(s)" in printed
    assert "trained 0 more epoch(s), 0 steps" in printed and again.epoch == 1


def test_a_second_run_can_reuse_the_first_runs_data(runs, capsys):
    first = chapter.train(tiny_config(runs))
    second = chapter.train(chapter.side_run(first.config, "second"), data_from=first)
    assert second.train_data is first.train_data and second.val_data is first.val_data


def test_per_class_top1_counts_each_class_on_its_own():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = torch.tensor([0, 0, 1, 1])
    assert chapter.per_class_top1(probs, labels, ["a", "b"]).tolist() == [0.5, 0.5]
    assert chapter.chance_levels(14) == (1 / 14, 5 / 14) and chapter.chance_levels(3) == (1 / 3, 1.0)


def test_history_table_and_the_comparison_of_runs():
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "train_top1": 0.1 * e, "val_top1": 0.1 * e,
                "val_top5": 0.3 * e, "lr": 1e-5 / e, "images_per_second": 100.0, "step": 10 * e} for e in (1, 2)]
    table = history_table(history)
    assert list(table.columns) == HISTORY_COLUMNS and list(table.index) == [1, 2]
    assert table.loc[2, "lr"] == 5e-6  # not rounded away
    fig = plot_validation_top1({"a": history, "b": history[:1]}, chance=0.1, title="t")
    [ax] = fig.axes
    assert [line.get_label() for line in ax.lines] == ["a", "b", "chance"]


def test_a_chapter_checks_its_imagenet_features_before_training(monkeypatch, tmp_path):
    """Offline and without the features, the chapter stops at once, naming what to fetch."""
    from lpips_edu.models import WeightsNotAvailableError

    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LPIPS_EDU_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError, match="weights fetch"):
        chapter.require_imagenet_features("vgg16")

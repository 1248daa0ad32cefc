"""The steps the three training chapters share: train the book's recipe, then look at the run.

Chapters 1b, 2b and 3b train AlexNet, VGG and SqueezeNet with one ``Trainer``
and read each run the same way: learning curves, accuracy against chance,
accuracy per class, what the first layer learned, a few predictions, the
weights saved for the LPIPS chapters. Each step is one call here, so a
chapter holds what differs between the networks (why its recipe looks the
way it does, its transfer-learning runs, its speed measurements) and its prose.

The ``show_*`` and ``print_*`` functions draw and print what the chapter
shows, in reading order: a figure is shown before the line of text that reads
it. Every number a chapter states comes from one of these lines.
"""

from __future__ import annotations

import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import models
from ..paths import run_dir, trained_checkpoint
from ..profiles import Profile, seeded
from ..train import TrainConfig, Trainer, predict_dataset, recipe
from .curves import plot_learning_curves
from .plotting import show_filters, show_images
from .start import start as start_notebook


def start(profile: str, seed: int, model_name: str) -> Profile:
    """``lpips_edu.chapters.start.start``, and a line naming the network the chapter trains."""
    chosen = start_notebook(profile, seed)
    print("model:", model_name)
    return chosen


def require_imagenet_features(model_name: str) -> str:
    """Make sure the ImageNet features a chapter's transfer run needs are here, before any training.

    They are fetched on first use where that is allowed; otherwise the chapter stops now, with the
    message of what to fetch, instead of after its main run. Returns what the features are.
    """
    from ..models.fetch_features import load_or_fetch_imagenet_features

    _, source = load_or_fetch_imagenet_features(models.get_spec(model_name))
    return source


def run_config(model_name: str, profile: str, epochs: int | None = None, **overrides) -> TrainConfig:
    """The book's recipe (``train.recipe``); a chapter's ``epochs`` parameter of None keeps the recipe's."""
    if epochs is not None:
        overrides["epochs"] = epochs
    return recipe(model_name, profile, **overrides)


def config_table(config: TrainConfig) -> pd.DataFrame:
    """The fields a run sets, one per row; those left at None come from the profile."""
    return pd.Series({k: v for k, v in vars(config).items() if v is not None}, name="value").to_frame()


def side_run(config: TrainConfig, name: str, **changes) -> TrainConfig:
    """Another run of a chapter's recipe (``weights="imagenet-features"``, another model...) in ``runs/<name>``.

    It writes no checkpoints unless ``changes`` say so: the LPIPS chapters read the
    chapter's main run only, and a side run should not cost the disk a second copy
    of the network.
    """
    return dataclasses.replace(config, **{"out_dir": str(run_dir(name)), "save_checkpoints": False, **changes})


def train(config: TrainConfig, data_from: Trainer | None = None, datasets: tuple | None = None) -> Trainer:
    """Train ``config`` and print what the run was: data, precision, starting weights, epochs, time, accuracy.

    ``data_from`` reuses another run's datasets (the same patches, not built twice);
    ``datasets`` gives ``(train, val)`` directly.
    With ``config.resume`` the run continues from its checkpoint, and the lines
    say how much of it was done before: a finished run trains nothing more.
    """
    if data_from is not None:
        datasets = (data_from.train_data, data_from.val_data)
    data = {"train_data": datasets[0], "val_data": datasets[1]} if datasets else {}
    trainer = Trainer(config, **data)
    print(f"{len(trainer.train_data)} training and {len(trainer.val_data)} validation images, "
          f"{trainer.num_classes} classes, {trainer.image_size} px, batch {trainer.batch_size}, "
          f"precision: {trainer.amp_dtype or torch.float32}, channels_last={trainer.channels_last}")
    if config.weights == "imagenet-features":
        print("convolutions from:", models.load_imagenet_features(models.get_spec(config.model))[1])
    elif config.weights is not None:
        print("weights from:", config.weights)
    epochs_before, steps_before = trainer.epoch, trainer.step
    if epochs_before:
        print(f"resumed from {trainer.checkpoint_path} after {epochs_before} epoch(s), {steps_before} steps")
    start_time = time.perf_counter()
    trainer.fit()
    minutes = (time.perf_counter() - start_time) / 60
    more = " more" if epochs_before else ""
    top1 = f"; validation top-1 {100 * trainer.history[-1]['val_top1']:.1f}%" if trainer.history else ""
    print(f"trained {trainer.epoch - epochs_before}{more} epoch(s), {trainer.step - steps_before} steps "
          f"in {minutes:.1f} min{top1}")
    return trainer


def show_learning_curves(trainer: Trainer, baseline: float | None = None) -> None:
    """Loss (every step and per epoch) and accuracy per epoch of the run, with chance and the colour baseline."""
    plot_learning_curves(trainer.history, chance=1 / trainer.num_classes, step_losses=trainer.step_losses,
                         baseline=baseline, title=f"{trainer.config.model} on the offline dataset")
    plt.show()


def chance_levels(num_classes: int) -> tuple[float, float]:
    """Top-1 and top-5 accuracy of guessing at random: a guess lists 1 (or 5) of the classes."""
    return 1 / num_classes, min(5, num_classes) / num_classes


def print_accuracy(trainer: Trainer, baseline: float | None = None) -> None:
    """The run's final validation top-1 and top-5, against chance and the colour baseline."""
    final = trainer.history[-1]
    chance_top1, chance_top5 = chance_levels(trainer.num_classes)
    print(f"validation top-1: {100 * final['val_top1']:.1f}%  (chance {100 * chance_top1:.1f}%, "
          f"{final['val_top1'] / chance_top1:.1f}x chance)")
    if baseline is not None:
        margin = 100 * (final["val_top1"] - baseline)
        verdict = "above" if margin > 0 else "below"
        print(f"colour-statistics baseline on the same patches: {100 * baseline:.1f}%  "
              f"(the network is {abs(margin):.1f} points {verdict} it)")
    print(f"validation top-5: {100 * final['val_top5']:.1f}%  (chance {100 * chance_top5:.1f}%)")


def report_accuracy(trainer: Trainer, baseline: float, name: str) -> None:
    """``print_accuracy``, and the run's numbers glued for the page's summary as ``{name}_top1``, ``_baseline``,
    ``_chance`` (percent) and ``_steps`` (myst-nb's ``glue``: the prose quotes what this run measured)."""
    from myst_nb import glue

    print_accuracy(trainer, baseline)
    glue(f"{name}_top1", 100 * trainer.history[-1]["val_top1"], display=False)
    glue(f"{name}_baseline", 100 * baseline, display=False)
    glue(f"{name}_chance", 100 / trainer.num_classes, display=False)
    glue(f"{name}_steps", trainer.step, display=False)


def colour_baseline(profile: Profile, seed: int) -> float:
    """Chapter 0's colour-statistics baseline for this profile and seed: the bar every network must clear.

    The same patches as chapter 0 (the profile's images per class, epoch 0) and the
    same validation patches as the training chapters' runs.
    """
    from ..data.colour_baseline import offline_colour_baseline

    return offline_colour_baseline(profile.images_per_class, profile.val_images_per_class, profile.image_size, seed)


def per_class_top1(probs: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> pd.Series:
    """Validation top-1 of each class: the share of its patches whose most likely class is the right one."""
    predicted = probs.argmax(1)
    return pd.Series([(predicted[labels == c] == c).float().mean().item() for c in range(len(classes))],
                     index=classes, name="validation top-1")


def show_per_class_top1(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
    """Bars of validation top-1 per class, and the easiest and hardest class; returns (probs, labels).

    ``probs`` (N x classes) and ``labels`` (N) are the model's predictions on
    the validation split, in order: the chapters' exercises start from them.
    """
    probs, labels = predict_dataset(trainer.model, trainer.val_data)
    per_class = per_class_top1(probs, labels, trainer.classes)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(per_class.index, 100 * per_class.values, color="tab:blue")
    ax.axhline(100 / trainer.num_classes, color="grey", ls=":", label="chance")
    ax.set(ylabel="validation top-1 (%)", xlabel="class (source of the patch)", ylim=(0, 100))
    ax.tick_params(axis="x", rotation=60)
    ax.legend()
    fig.tight_layout()
    plt.show()
    print("easiest:", per_class.idxmax(), f"{100 * per_class.max():.0f}%;  hardest:", per_class.idxmin(),
          f"{100 * per_class.min():.0f}%")
    return probs, labels


def show_first_layer(trainer: Trainer, seed: int, n: int = 32) -> None:
    """The first ``n`` conv1 filters at initialisation (rebuilt from ``seed``) and after training.

    Also prints how far training moved them: the norm of the change relative
    to the norm at initialisation (well below 1: still close to the random start).
    """
    with seeded(seed):
        untrained = models.build(trainer.config.model, num_classes=trainer.num_classes)
    before = untrained.get_submodule("features.0").weight.detach()
    after = trainer.model.get_submodule("features.0").weight.detach().float().cpu()
    show_filters(before, n=n, title="conv1 at initialisation")
    show_filters(after, n=n, title=f"conv1 after {trainer.epoch} epoch(s)")
    plt.show()
    print(f"relative change of conv1's weights: {((after - before).norm() / before.norm()).item():.2f}")


def show_predictions(trainer: Trainer, probs: torch.Tensor, seed: int, count: int = 8) -> None:
    """``count`` validation patches drawn at random, each with its class, the guess and the guess's probability."""
    picks = np.random.default_rng(seed).choice(len(trainer.val_data), size=count, replace=False)
    images, titles = [], []
    for i in picks:
        image, label = trainer.val_data[int(i)]
        guess = int(probs[i].argmax())
        images.append(image.permute(1, 2, 0).numpy())
        titles.append(f"true: {trainer.classes[label]}\nguess: {trainer.classes[guess]} ({probs[i, guess]:.0%})")
    show_images(images, titles, ncols=4, size=2.4)
    plt.show()


def save_and_reload(trainer: Trainer) -> None:
    """Make sure the run's final checkpoint is where the LPIPS chapters look for it; load it back through the registry.

    A chapter's main run trains in that folder, so the Trainer's checkpoint of its
    last step is already the file: it is not written a second time (for VGG-11 that
    would be 1.5 GB again). A run kept elsewhere, or one without checkpoints, is saved.
    """
    path = trained_checkpoint(trainer.config.model)
    if path == trainer.checkpoint_path and trainer.checkpoint_step == trainer.step:
        what = f"the Trainer's checkpoint of step {trainer.step} is the chapter's saved network"
    else:
        trainer.save(path)
        what = f"saved the network after step {trainer.step}"
    reloaded = models.build(trainer.config.model, num_classes=trainer.num_classes, weights=path)
    same = all(torch.equal(a, b.cpu()) for a, b in zip(reloaded.state_dict().values(),
                                                       trainer.model.state_dict().values()))
    print(f"{what} ({path.stat().st_size / 1e6:.1f} MB, in the runs folder)")
    print(f"loaded back with models.build: weights identical: {same}")

"""Checks for assignment 3: train a backbone within a budget and report its learning curves.

The budget is counted in training images the optimizer sees (steps x batch x
accumulation), so it means the same on every machine; seconds would not.

* A3.1 ``make_config``: a ``TrainConfig`` that fits the budget and leaves the book's checkpoints alone;
* A3.2 the run (``history``): every planned epoch ran, the budget held, validation accuracy above
  chapter 0's colour-statistics baseline (``accuracy_bar``);
* A3.3 ``plot_curves``: a figure with labelled axes showing training and validation curves;
* A3.4 ``summarize``: the numbers reported are the ones in the history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..data import OFFLINE_CLASSES
from ..data.colour_baseline import offline_colour_baseline
from ..models import available_models
from ..paths import run_dir
from ..profiles import Profile, get_profile
from ..train import TrainConfig
from .attempt import NotReady, call_by_name, call_returning, exercise, grader, lookup, written_answer
from .report import Report

# Training images (optimizer steps x batch size x accumulation steps) per profile.
BUDGETS = {"smoke": 64, "cpu": 10_000, "gpu": 250_000}
# Validation top-1 must beat chapter 0's colour-statistics baseline by this much (5 points); smoke
# runs are too short to learn. Chance would be too low a bar: colour alone goes well beyond it.
BASELINE_MARGIN = {"smoke": None, "cpu": 0.05, "gpu": 0.05}


def training_budget(profile: Profile | str = "auto") -> int:
    """How many training images a run may use under ``profile``."""
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    return BUDGETS[p.name]


def accuracy_bar(profile: Profile | str = "auto", seed: int = 0) -> tuple[float, float] | None:
    """(bar, colour baseline): the validation top-1 a run must reach under ``profile``, or None under smoke.

    The bar is chapter 0's colour-statistics baseline on the profile's patches
    (``lpips_edu.data.colour_baseline``) plus ``BASELINE_MARGIN``: six colour
    numbers per patch already go far beyond chance, so a network that does not
    beat them has learned nothing about texture or shape.
    """
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    margin = BASELINE_MARGIN[p.name]
    if margin is None:
        return None
    baseline = offline_colour_baseline(p.images_per_class, p.val_images_per_class, p.image_size, seed)
    return baseline + margin, baseline


def _profile(namespace: Mapping) -> Profile:
    p = namespace.get("P")
    return p if isinstance(p, Profile) else get_profile(namespace.get("profile", "auto"))


def planned_images(config: TrainConfig, profile: Profile) -> tuple[int, str]:
    """Training images a config will use, and the arithmetic as a sentence (the Trainer drops incomplete batches)."""
    per_class = config.images_per_class or profile.images_per_class
    batch = config.batch_size or profile.batch_size
    accum = config.grad_accum_steps
    epochs = config.epochs or profile.epochs
    n = per_class * len(OFFLINE_CLASSES)
    steps_per_epoch = (n // batch) // accum
    steps = epochs * steps_per_epoch
    text = (
        f"{epochs} epoch(s) x {steps_per_epoch} steps ({n} images / batch {batch}"
        + (f" / {accum} accumulation" if accum > 1 else "")
        + ")"
    )
    if config.max_steps is not None and config.max_steps < steps:
        steps = config.max_steps
        text += f", capped at max_steps={config.max_steps}"
    return steps * batch * accum, f"{text} = {steps} steps x {batch * accum} images"


def _config(namespace: Mapping) -> TrainConfig:
    config = lookup(namespace, "config", "run the cell that calls make_config")
    if not isinstance(config, TrainConfig):
        raise NotReady(f"`config` should be a lpips_edu.train.TrainConfig, got {type(config).__name__}")
    return config


# --------------------------------------------------------------------------- A3.1


@exercise("A3.1 make_config", points=3)
def check_config(namespace: Mapping, report: Report) -> None:
    P = _profile(namespace)
    budget = training_budget(P)
    config = call_returning(namespace, "make_config", TrainConfig, "a TrainConfig", P, budget)
    problems = []
    if config.model not in available_models():
        problems.append(f"model {config.model!r} is not in lpips_edu.models.available_models()")
    if config.data != "offline":
        problems.append(f"data={config.data!r}: this assignment trains on the offline dataset (data='offline')")
    report.add(
        "a TrainConfig for the offline task",
        1,
        not problems,
        "; ".join(problems) or f"{config.model} on the offline dataset ({len(OFFLINE_CLASSES)} classes)",
    )

    images, how = planned_images(config, P)
    report.add(
        "fits the budget",
        1,
        images <= budget,
        f"{how} = {images:,} training images; the budget is {budget:,}"
        + (
            ""
            if images <= budget
            else ": lower epochs or images_per_class, or cap the run with max_steps = budget // batch_size"
        ),
    )

    default = run_dir(config.model).resolve()
    target = Path(config.out_dir).resolve() if config.out_dir else default
    clash = config.save_checkpoints and target == default
    report.add(
        "leaves the book's checkpoints alone",
        1,
        not clash,
        (
            f"the trainer would write {default / 'checkpoint.pt'}, which the LPIPS chapters load as the "
            "book-trained backbone: set out_dir to another folder or save_checkpoints=False"
        )
        if clash
        else ("no checkpoint is saved" if not config.save_checkpoints else f"checkpoints go to {target}"),
    )


# --------------------------------------------------------------------------- A3.2


def _history(namespace: Mapping) -> list[dict]:
    history = lookup(namespace, "history", "run the training cell (history = trainer.fit())")
    if not isinstance(history, list) or not history or not all(isinstance(r, dict) for r in history):
        raise NotReady("`history` should be the non-empty list of dicts returned by trainer.fit()")
    return history


@exercise("A3.2 the training run", points=4)
def check_run(namespace: Mapping, report: Report) -> None:
    P = _profile(namespace)
    config, history = _config(namespace), _history(namespace)
    epochs = config.epochs or P.epochs
    stopped = config.max_steps is not None and history[-1]["step"] >= config.max_steps
    complete = len(history) == epochs or stopped
    report.add(
        "every planned epoch ran",
        1,
        complete,
        f"{len(history)} of {epochs} epochs"
        + (" (stopped at max_steps)" if stopped and len(history) < epochs else "")
        + ("" if complete else ": the run was interrupted; run the training cell to the end"),
    )

    batch = (config.batch_size or P.batch_size) * config.grad_accum_steps
    used, budget = history[-1]["step"] * batch, training_budget(P)
    report.add(
        "budget respected",
        1,
        used <= budget,
        f"{history[-1]['step']} steps x {batch} images = {used:,} training images (budget {budget:,})",
    )

    chance = 1 / len(OFFLINE_CLASSES)
    final = history[-1]["val_top1"]
    bar = accuracy_bar(P, config.seed)
    if bar is None:
        report.add(
            "beats the colour baseline",
            2,
            True,
            f"final validation top-1 {final:.1%} (chance {chance:.1%}); not judged under the {P.name} profile, "
            "whose runs are too short to learn (the cpu profile asks for chapter 0's colour-statistics "
            f"baseline + {100 * BASELINE_MARGIN['cpu']:.0f} points)",
        )
    else:
        bar, baseline = bar
        ok = final >= bar
        report.add(
            "beats the colour baseline",
            2,
            ok,
            f"final validation top-1 {final:.1%}; the bar is {bar:.1%}: chapter 0's colour-statistics baseline "
            f"({baseline:.1%} on this profile's validation patches, seed {config.seed}) + "
            f"{100 * BASELINE_MARGIN[P.name]:.0f} points "
            f"(chance is {chance:.1%}). Six colour numbers per patch reach the baseline, so a network that does "
            "not beat colour statistics has learned nothing about texture or shape"
            + (
                ""
                if ok
                else ". Try the book's AlexNet recipe, lpips_edu.train.recipe('alexnet', P.name) (AdamW at "
                "lr 1e-3, a one-epoch warmup, gradient clipping), with as many epochs as the budget pays for"
            ),
        )


# --------------------------------------------------------------------------- A3.3


def _plotted(fig) -> list[np.ndarray]:
    return [np.asarray(line.get_ydata(), dtype=float) for ax in fig.axes for line in ax.get_lines()]


def _shows(lines: list[np.ndarray], values: list[float]) -> bool:
    v = np.asarray(values, dtype=float)
    return any(
        y.shape == v.shape and (np.allclose(y, v, rtol=1e-6) or np.allclose(y, 100 * v, rtol=1e-6)) for y in lines
    )


EXAMPLE_HISTORY = [
    {
        "epoch": e,
        "train_loss": 2.6 - 0.3 * e,
        "val_loss": 2.5 - 0.25 * e,
        "train_top1": 0.1 * e,
        "val_top1": v,
        "val_top5": min(1.0, 3 * v),
        "step": 40 * e,
        "lr": 1e-3,
        "images_per_second": 500.0,
        "epoch_seconds": 2.5,
    }
    for e, v in ((1, 0.12), (2, 0.27), (3, 0.31), (4, 0.29))
]


def _history_or_example(namespace: Mapping) -> tuple[list[dict], str]:
    """The run's history, or an example one so that a function can be checked before (or without) the run."""
    try:
        return _history(namespace), ""
    except NotReady as exc:
        return EXAMPLE_HISTORY, f" (checked on an example history: {exc})"


@exercise("A3.3 plot_curves", points=2)
def check_plot(namespace: Mapping, report: Report) -> None:
    lookup(namespace, "plot_curves")
    history, example = _history_or_example(namespace)
    fig = call_by_name(namespace, "plot_curves", history)
    if fig is None or not hasattr(fig, "axes"):
        raise NotReady(f"plot_curves should return the matplotlib Figure (return fig), got {type(fig).__name__}")
    try:
        axes = [ax for ax in fig.axes if ax.get_lines()]
        unlabelled = [i for i, ax in enumerate(axes) if not ax.get_xlabel() or not ax.get_ylabel()]
        ok = bool(axes) and not unlabelled
        report.add(
            "labelled axes",
            1,
            ok,
            (
                "no axes with lines: plot with ax.plot(...)"
                if not axes
                else (
                    f"axes {unlabelled} lack an x or y label (ax.set_xlabel / ax.set_ylabel, with units)"
                    if unlabelled
                    else f"{len(axes)} axes, every one labelled"
                )
            )
            + example,
        )
        lines = _plotted(fig)
        series = {"training loss": "train_loss", "validation loss": "val_loss", "validation accuracy": "val_top1"}
        missing = [label for label, key in series.items() if not _shows(lines, [r[key] for r in history])]
        report.add(
            "training and validation curves",
            1,
            not missing,
            (
                "shows training loss, validation loss and validation accuracy per epoch"
                if not missing
                else f"no line shows the {', '.join(missing)} (one point per epoch, from history)"
            )
            + example,
        )
    finally:
        plt.close(fig)  # the check must not draw the figure a second time


# --------------------------------------------------------------------------- A3.4


@exercise("A3.4 summarize", points=3)
def check_summary(namespace: Mapping, report: Report) -> None:
    P = _profile(namespace)
    lookup(namespace, "summarize")
    history, example = _history_or_example(namespace)
    try:
        config = _config(namespace)
    except NotReady as exc:
        config, example = TrainConfig(batch_size=32), example or f" (checked on an example run: {exc})"
    summary = call_returning(namespace, "summarize", dict, "a dict", history, config)
    missing = [k for k in ("final_val_top1", "best_val_top1", "best_epoch", "images_seen") if k not in summary]
    if missing:
        raise NotReady(f"the summary lacks the key(s) {missing}")
    final, best = history[-1]["val_top1"], max(r["val_top1"] for r in history)
    best_epoch = max(history, key=lambda r: r["val_top1"])["epoch"]
    images = history[-1]["step"] * (config.batch_size or P.batch_size) * config.grad_accum_steps

    def near(a, b):
        return isinstance(a, (int, float)) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)

    got_final, got_best = summary["final_val_top1"], summary["best_val_top1"]
    ok = near(got_final, final) and near(got_best, best)
    why = (
        f"final {final:.4f}, best {best:.4f}"
        if ok
        else f"expected final {final:.4f} and best {best:.4f}, got {got_final!r} and {got_best!r}"
    )
    if not ok and near(got_final, 100 * final):
        why += ": report fractions as in history (0.42), not percent"
    elif not ok and near(got_final, best) and not near(final, best):
        why += ": 'final' is the last epoch, not the best"
    report.add("final and best validation accuracy", 1, ok, why + example)

    got = summary["best_epoch"]
    ok = got == best_epoch
    report.add(
        "best epoch",
        1,
        ok,
        (
            f"epoch {best_epoch}"
            if ok
            else f"expected epoch {best_epoch}, got {got!r}"
            + (": history counts epochs from 1 (use record['epoch'])" if got == best_epoch - 1 else "")
        )
        + example,
    )
    got = summary["images_seen"]
    ok = got == images
    per_class = config.images_per_class or P.images_per_class
    naive = len(history) * per_class * len(OFFLINE_CLASSES)
    report.add(
        "training images seen",
        1,
        ok,
        (
            f"{images:,} = steps x batch"
            if ok
            else f"expected {images:,} (history[-1]['step'] x batch size x accumulation), got {got!r}"
            + (
                ": the Trainer drops the last incomplete batch of every epoch (and stops at max_steps)"
                if got == naive
                else ""
            )
        )
        + example,
    )


QUESTION = (
    "is your network under- or over-fitting, judging by the curves, and what would you change "
    "with four times the budget?"
)

check_answer = written_answer("A3.5 written answer", 2, QUESTION)


CHECKS = (check_config, check_run, check_plot, check_summary, check_answer)


grade = grader("A3 Train a backbone within a budget", CHECKS)

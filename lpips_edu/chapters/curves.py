"""Learning curves and the table behind them, from a Trainer's history (one dict per epoch)."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pandas as pd


def plot_learning_curves(history: list[dict] | pd.DataFrame, chance: float | None = None, title: str = "",
                         step_losses: list[float] | None = None, baseline: float | None = None):
    """Loss (left) and accuracy (right) against epochs, for training and validation.

    ``step_losses`` (one per optimizer step, ``Trainer.step_losses``) draws the
    training loss of every step, placed at its fraction of the run's epochs, behind
    the epoch means; ``baseline`` draws a second reference line beside chance.
    """
    frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(history).set_index("epoch")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    if step_losses:
        at = [len(frame) * (k + 1) / len(step_losses) for k in range(len(step_losses))]
        ax_loss.plot(at, step_losses, "-", color="tab:blue", alpha=0.35, lw=1, label="training, every step")
    ax_loss.plot(frame.index, frame["train_loss"], "o-", color="tab:blue", label="training, epoch mean")
    ax_loss.plot(frame.index, frame["val_loss"], "s-", color="tab:orange", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title="loss")
    ax_acc.plot(frame.index, 100 * frame["train_top1"], "o-", label="training top-1")
    ax_acc.plot(frame.index, 100 * frame["val_top1"], "s-", label="validation top-1")
    ax_acc.plot(frame.index, 100 * frame["val_top5"], "^--", label="validation top-5")
    if chance is not None:
        ax_acc.axhline(100 * chance, color="grey", ls=":", label="chance (top-1)")
    if baseline is not None:
        ax_acc.axhline(100 * baseline, color="tab:red", ls="--", lw=1, label="colour baseline (top-1)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=7)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


HISTORY_COLUMNS = ["train_loss", "val_loss", "train_top1", "val_top1", "val_top5", "lr", "images_per_second"]


def history_table(history: list[dict]) -> pd.DataFrame:
    """The numbers behind the learning curves, one row per epoch, rounded to 3 places.

    The learning rate is left unrounded: a cosine schedule ends far below 1e-3.
    """
    frame = pd.DataFrame(history).set_index("epoch")[HISTORY_COLUMNS]
    return frame.round(3).assign(lr=frame["lr"])


def plot_validation_top1(curves: dict[str, list[dict] | pd.DataFrame], chance: float | None = None, title: str = "",
                         styles: tuple[str, ...] = ("o-", "s-", "^-", "d-")):
    """Validation top-1 per epoch of several runs in one panel, one labelled line per run."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for (label, history), style in zip(curves.items(), itertools.cycle(styles)):
        frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(history).set_index("epoch")
        ax.plot(frame.index, 100 * frame["val_top1"], style, label=label)
    if chance is not None:
        ax.axhline(100 * chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="epoch", ylabel="validation top-1 (%)", ylim=(0, 100), title=title)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return fig

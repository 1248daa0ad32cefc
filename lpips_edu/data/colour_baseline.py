"""The bar a network must clear on the offline task: a logistic regression on six colour numbers.

Chapter 0 writes it out: describe each patch by the mean and standard deviation
of its three colour channels and fit a logistic regression. The training
chapters and the A3 grader need the same number on the same patches, so it
lives here, tied to the chapter's cell by ``tests/test_chapter_mechanisms.py``.
A network is only interesting where it clearly beats this baseline: the
baseline sees colour and nothing of texture or shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch


def colour_statistics(items: Sequence[tuple[torch.Tensor, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(N x 6 features: per-channel mean and std of each uint8 image, N labels) of ``(image, label)`` items."""
    x = np.stack([image.float().numpy().reshape(3, -1) for image, _ in items])
    return np.concatenate([x.mean(2), x.std(2)], 1), np.array([label for _, label in items])


def colour_baseline_top1(train: Sequence[tuple[torch.Tensor, int]], val: Sequence[tuple[torch.Tensor, int]]) -> float:
    """Validation top-1 of a standardised logistic regression fitted on the training items' colour statistics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = colour_statistics(train)
    x_val, y_val = colour_statistics(val)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    return float(model.score(x_val, y_val))


@lru_cache(maxsize=8)
def offline_colour_baseline(images_per_class: int, val_images_per_class: int, image_size: int, seed: int) -> float:
    """Chapter 0's baseline on the offline dataset at these sizes: the training chapters' and A3's bar.

    The patches are chapter 0's (training split at epoch 0, validation split);
    cached because generating them takes seconds and a grader asks more than once.
    """
    from .offline import OfflineImages

    train = OfflineImages("train", images_per_class, image_size, seed)
    val = OfflineImages("val", val_images_per_class, image_size, seed)
    return colour_baseline_top1([train[i] for i in range(len(train))], [val[i] for i in range(len(val))])

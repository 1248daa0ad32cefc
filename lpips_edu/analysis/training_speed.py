"""How fast is one training step: our Trainer versus a plain loop over torchvision, and its speed knobs.

The Trainer does more per step than the five-line loop every PyTorch tutorial
writes: it takes uint8 batches and normalises them on the device, steps a
learning-rate schedule, clips, counts top-1/top-5. The question a reader should
ask is whether that costs speed. Both run in one process on the same weights,
batch and optimizer (SGD with momentum), each variant timed in alternating
rounds with the plain loop (``timing.time_calls``), so that load on a shared
machine hits both alike. Then the knobs: channels_last memory layout and bf16
autocast. bf16 is fast only on CPUs with AVX512-BF16 / AMX (or on GPUs);
elsewhere it is emulated, a VGG-16 step takes many times longer, and the bf16
variants are skipped with the reason in their ``status`` (``lpips_edu.hardware``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import Dataset

from .. import models
from ..data import normalize
from ..hardware import HALF_DTYPES, skip_reason
from ..train import TrainConfig, Trainer
from .timing import time_calls

PLAIN = "plain torchvision fp32"
VARIANTS = {  # label: (channels_last, amp)
    "Trainer fp32": (False, "off"),
    "Trainer channels_last": (True, "off"),
    "Trainer bf16": (False, "bf16"),
    "Trainer channels_last + bf16": (True, "bf16"),
}


class RandomImages(Dataset):
    """uint8 noise images: just enough for a Trainer to be built (the timed batch is passed directly)."""

    def __init__(self, n: int, size: int, classes: int) -> None:
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
        self.labels = torch.arange(n) % classes
        self.classes = [str(i) for i in range(classes)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def plain_step(name: str, images: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """The tutorial loop: torchvision's model, cross-entropy, backward, SGD step."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=int(labels.max()) + 1).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    x = normalize(images)

    def step() -> None:
        F.cross_entropy(model(x), labels).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def trainer_step(name: str, images: torch.Tensor, labels: torch.Tensor, channels_last: bool,
                 amp: str) -> Callable[[], object]:
    """``Trainer.train_step`` on the same batch, with one setting of the knobs."""
    torch.manual_seed(0)
    classes = int(labels.max()) + 1
    data = RandomImages(len(images), images.shape[-1], classes)
    config = TrainConfig(model=name, profile="cpu", image_size=images.shape[-1], batch_size=len(images),
                         lr=1e-3, optimizer="sgd", channels_last=channels_last, amp=amp, progress=False,
                         save_checkpoints=False, warmup_epochs=0, device="cpu")
    trainer = Trainer(config, models.build(name, num_classes=classes), data, data)
    batch = [(images, labels)]
    return lambda: trainer.train_step(batch)


def training_throughput(names: list[str], size: int = 64, batch: int = 16, repeats: int = 5,
                        classes: int = 1000, variants: dict[str, tuple[bool, str]] | None = None,
                        min_block_s: float = 0.25) -> pd.DataFrame:
    """Images per second of one training step, per model and variant, with the ratio to the plain loop.

    Each variant is timed in alternating rounds against the plain loop, one
    pair at a time: the ratio compares two steps measured under the same
    conditions, and only two copies of the model (with their gradients and
    optimizer state) are in memory at once - VGG-16 needs about 1.7 GB each.
    Each measurement averages enough steps to last ``min_block_s``: a 30 ms
    SqueezeNet step timed alone is at the mercy of every hiccup of the machine.
    One row per (model, variant): median images/s, the interquartile range, and
    ``vs plain`` = plain seconds / variant seconds (> 1 is faster than plain).
    A variant this CPU cannot run fast (bf16 without native bf16) is not timed:
    its row has ``status`` "bf16 skipped: ..." and no numbers.
    """
    variants = VARIANTS if variants is None else variants
    skipped = {label: why for label, (_, amp) in variants.items()
               if amp in HALF_DTYPES and (why := skip_reason(amp))}
    rows = []
    for name in names:
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=generator)
        labels = torch.arange(batch) % classes
        plain = plain_step(name, images, labels)
        plain_medians, variant_rows = [], []
        for label, (channels_last, amp) in variants.items():
            if label in skipped:
                variant_rows.append({"model": name, "variant": label, "status": skipped[label]})
                continue
            step = trainer_step(name, images, labels, channels_last, amp)
            timings = time_calls({PLAIN: plain, label: step}, repeats=repeats, warmup=2, min_block_s=min_block_s)
            del step
            t, base = timings[label], timings[PLAIN]
            plain_medians.append(base.median_s)
            variant_rows.append({"model": name, "variant": label, "status": "ok", "images/s": batch / t.median_s,
                                 "images/s q25": batch / t.q75_s, "images/s q75": batch / t.q25_s,
                                 "vs plain": base.median_s / t.median_s})
        if not plain_medians:  # every variant skipped: the plain loop is still the row others compare with
            plain_medians.append(
                time_calls({PLAIN: plain}, repeats=repeats, warmup=2, min_block_s=min_block_s)[PLAIN].median_s
            )
        plain_s = float(np.median(plain_medians))
        rows.append(
            {
                "model": name,
                "variant": PLAIN,
                "status": "ok",
                "images/s": batch / plain_s,
                "images/s q25": batch / max(plain_medians),
                "images/s q75": batch / min(plain_medians),
                "vs plain": 1.0,
            }
        )
        rows += variant_rows
    columns = ["model", "variant", "status", "images/s", "images/s q25", "images/s q75", "vs plain"]
    return pd.DataFrame(rows, columns=columns)

"""One Trainer for every model: image classification on CPU, CUDA, MPS, or many GPUs.

Read it top to bottom like nanoGPT's ``train.py``: a small config dataclass,
then the pieces a training run needs (data, model, optimizer, learning-rate
schedule, checkpoints), then the loop. The same code runs

* from Python:  ``train(TrainConfig(model="alexnet", epochs=3))`` or ``Trainer(config).fit()``
* from a shell: ``python -m lpips_edu.train --model vgg11_bn --data offline --profile cpu``
* on N GPUs:    ``torchrun --nproc_per_node=N -m lpips_edu.train --model vgg16_bn --data imagenette``

``batch_size`` is per process; the global batch is batch_size x processes x grad_accum_steps.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from . import distributed, models
from .data import build_datasets, input_size_for, normalize
from .distributed import Distributed
from .hardware import cpu_has_fast_bf16, cuda_has_native_bf16
from .io import read_torch_file, save_torch_atomic, write_text_atomic
from .paths import run_dir
from .profiles import get_profile, seed_everything

CHECKPOINT_FORMAT = "lpips_edu.train/1"


@dataclass
class TrainConfig:
    """Everything that defines a run; ``None`` means "take it from the profile"."""

    model: str = "squeezenet1_1"
    weights: str | None = None  # None: from scratch; "imagenet-features": transfer learning (models.build)
    data: str = "offline"  # offline | cifar10 | imagenette | folder | a path to an ImageNet-layout folder
    data_root: str | None = None  # default: lpips_edu.paths.data_dir()
    download: bool = False  # fetch cifar10 / imagenette if missing (never done silently)
    profile: str = "auto"
    image_size: int | None = None
    batch_size: int | None = None  # per process
    epochs: int | None = None
    images_per_class: int | None = None  # offline dataset only
    val_images_per_class: int | None = None
    optimizer: str = "sgd"  # sgd (with momentum) | adamw
    lr: float | None = None  # None: a default per model family and optimizer (DEFAULT_LR)
    momentum: float = 0.9
    weight_decay: float = 5e-4  # applied to weights of conv/linear layers, not to biases or BN
    schedule: str = "cosine"  # cosine | step | constant, after a linear warmup
    warmup_epochs: float = 1.0
    step_epochs: int = 30  # "step": multiply the rate by step_gamma every step_epochs
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_accum_steps: int = 1
    grad_clip: float | None = None  # max global gradient norm
    dropout: float = 0.5
    amp: str = "auto"  # auto (profile: bf16/fp16 on CUDA, bf16 on CPUs with native bf16) | off | bf16 | fp16
    channels_last: bool | None = None
    device: str | None = None
    num_workers: int | None = None
    seed: int = 0
    out_dir: str | None = None  # default: lpips_edu.paths.run_dir(model)
    resume: bool = False  # continue from out_dir/checkpoint.pt
    save_checkpoints: bool = True
    history_format: str = "jsonl"  # jsonl | csv
    max_steps: int | None = None  # stop after this many optimizer steps (tests, benchmarks)
    progress: bool = True


# Learning rates that train each family from scratch on the offline task within a few epochs.
DEFAULT_LR = {
    ("alexnet", "sgd"): 0.02, ("vgg", "sgd"): 0.05, ("squeezenet", "sgd"): 0.04,
    ("alexnet", "adamw"): 3e-4, ("vgg", "adamw"): 1e-3, ("squeezenet", "adamw"): 1e-3,
}


# ----------------------------------------------------------------------------- optimizer and precision


def make_optimizer(name: str, groups: list[dict], lr: float, momentum: float,
                   device: torch.device, loss_scaling: bool = False) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW, fused into one kernel per step on the CPU and on CUDA.

    PyTorch's default (foreach) update allocates temporaries as large as the
    parameters on every step. AlexNet's and VGG's classifiers hold 57 and 120+
    million weights, so on a small CPU the unfused update can cost more than the
    forward and backward passes (``benchmarks/train_throughput.py`` measures it).
    The fused kernels compute the same update, to float32 rounding.

    With fp16 loss scaling (``loss_scaling``) SGD is not fused: torch's fused
    SGD allocates its momentum uninitialised on the first step and fills it in
    the kernel, which the GradScaler tells to skip a step whose gradients
    overflowed (common at the start); the next step then reads garbage.
    """
    fused = {"fused": True} if device.type in ("cpu", "cuda") and not (loss_scaling and name == "sgd") else {}
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, **fused)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, **fused)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd or adamw")


def amp_dtype_for(amp: str, device: torch.device, profile) -> torch.dtype | None:
    """The autocast dtype: bf16 where the hardware has it, fp16 (with loss scaling) on older GPUs.

    ``auto`` follows the profile: ``amp`` on CUDA (bf16 on ``device`` if it has native bf16,
    compute capability 8.0 or later, else fp16 and the GradScaler: a T4 or V100 emulates bf16,
    slowly), ``cpu_bf16`` on CPUs with native bf16 (``lpips_edu.hardware``:
    ``LPIPS_EDU_CPU_BF16=0`` keeps float32 on any CPU).
    """
    if amp == "auto":
        if device.type == "cuda" and profile.amp:
            amp = "bf16" if cuda_has_native_bf16(device) else "fp16"
        elif device.type == "cpu" and profile.cpu_bf16 and cpu_has_fast_bf16():
            amp = "bf16"
        else:
            return None
    if amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    raise ValueError(f"unknown amp {amp!r}; choose auto, off, bf16 or fp16")


# ----------------------------------------------------------------------------- schedule and metrics


def learning_rate(step: int, base_lr: float, total_steps: int, warmup_steps: int, schedule: str,
                  steps_per_epoch: int = 1, step_epochs: int = 30, step_gamma: float = 0.1) -> float:
    """The rate at optimizer step ``step``: linear warmup, then cosine decay, step decay or constant."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        return base_lr * step_gamma ** (step // max(1, steps_per_epoch * step_epochs))
    if schedule == "cosine":
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown schedule {schedule!r}; choose cosine, step or constant")


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is among the k highest logits, for each k (k capped at #classes)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hits = top.eq(labels[:, None])
    return [hits[:, : min(k, kmax)].any(dim=1).sum() for k in ks]


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    # Decay only matrices and kernels: decaying biases and BN scales only hurts (Goyal et al. 2017).
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def seconds_since(start: float, device: torch.device) -> float:
    """Wall time since ``start`` (``time.perf_counter``), once the work queued on a GPU ``device`` has run."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA kernels run asynchronously: the clock alone sees only their launch
    return time.perf_counter() - start


def head_size(model: nn.Module, image_size: int, device: torch.device) -> int:
    """Number of outputs of a model, measured with one forward pass."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, image_size, image_size, device=device))
    model.train(was_training)
    return out.shape[1]


# ----------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict:
    """Every random state the loop uses, as tensors, so ``torch.load(weights_only=True)`` accepts it."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_rest": torch.tensor([np_state[2], np_state[3]], dtype=torch.int64),
        "numpy_gauss": torch.tensor(np_state[4], dtype=torch.float64),
        "python": torch.tensor(py_state[1], dtype=torch.int64),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())  # one row per GPU of this machine
    return state


def _set_rng_state(state: dict) -> None:
    """Restore ``_rng_state``; on a machine with other GPUs, those both have (the rest keep theirs).

    A checkpoint may come from a machine with more GPUs than this one, or none:
    ``torch.cuda.set_rng_state_all`` would ask for a GPU that is not there.
    """
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state((
        "MT19937", state["numpy_keys"].numpy().astype(np.uint32),
        int(state["numpy_rest"][0]), int(state["numpy_rest"][1]), float(state["numpy_gauss"]),
    ))
    random.setstate((3, tuple(int(v) for v in state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        saved = state["cuda"].cpu()
        for index in range(min(len(saved), torch.cuda.device_count())):
            torch.cuda.set_rng_state(saved[index], index)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A Trainer checkpoint, checked; a truncated or foreign file raises an error that says so."""
    ckpt = read_torch_file(path, "checkpoint", "train first, or run without resume",
                           "The file was left as it is; delete it to start again.")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an lpips_edu training checkpoint (expected format {CHECKPOINT_FORMAT!r}). "
            "To start from its weights instead, use lpips_edu.models.build(name, weights=path)."
        )
    return ckpt


def save_history(history: list[dict], path: str | os.PathLike) -> None:
    """One dict per epoch, written atomically as ``.jsonl`` (one JSON object per line) or ``.csv`` by the suffix.

    A file that opens in pandas, a spreadsheet or ``jq``.
    """
    if Path(path).suffix == ".csv":
        import pandas as pd

        write_text_atomic(path, pd.DataFrame(history).to_csv(index=False))
    else:
        write_text_atomic(path, "".join(json.dumps(record) + "\n" for record in history))


# ----------------------------------------------------------------------------- setting up a run


def class_names(dataset: Dataset) -> tuple[list[str], int]:
    """(class names, number of classes) of a dataset with ``classes`` or ``num_classes``."""
    classes = list(getattr(dataset, "classes", []))
    return classes, len(classes) if classes else int(dataset.num_classes)


@dataclass
class Loaders:
    """Training and validation batches for this process."""

    train_sampler: DistributedSampler
    val_sampler: DistributedSampler
    train: DataLoader
    val: DataLoader
    generator: torch.Generator  # reseeded every epoch: worker seeds depend on (seed, epoch) only


class EpochInWorkers(Dataset):
    """A dataset as persistent workers need it: ``set_epoch`` reaches their copies, augmentation is per item.

    Workers that live for the whole run (``persistent_workers``: not respawned,
    with their imports, every epoch) hold copies of the dataset made when they
    started, so the epoch is kept in shared memory and handed on when it
    changes. Each item's random numbers (torchvision's random crops and flips)
    are seeded from (seed, epoch, index), so a resumed run, whose workers start
    afresh, draws what an uninterrupted one draws, with any number of workers.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed
        self.epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._epoch_set = -1  # the epoch this copy last gave its dataset

    def set_epoch(self, epoch: int) -> None:
        self.epoch.fill_(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)  # this process's copy; workers' copies in __getitem__
            self._epoch_set = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        epoch = int(self.epoch)
        if epoch != self._epoch_set and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
            self._epoch_set = epoch
        if torch.utils.data.get_worker_info() is not None:  # a worker's own generator: the training RNG is not
            torch.manual_seed(((self.seed * 1_000_003 + epoch) * 1_000_000_007 + index) % (1 << 63))
        return self.dataset[index]


def make_loaders(train_data: Dataset, val_data: Dataset, batch_size: int, workers: int, processes: Distributed,
                 seed: int, pin_memory: bool) -> Loaders:
    """Each process reads its own shard; the order is a function of (seed, epoch), so a resumed run sees
    the same batches as an uninterrupted one. Worker processes (``workers`` > 0) persist across epochs."""
    if workers > 0:
        train_data, val_data = EpochInWorkers(train_data, seed), EpochInWorkers(val_data, seed)
    train_sampler = DistributedSampler(train_data, processes.world_size, processes.rank,
                                       shuffle=True, seed=seed, drop_last=True)
    val_sampler = DistributedSampler(val_data, processes.world_size, processes.rank, shuffle=False)
    generator = torch.Generator()
    train = DataLoader(train_data, batch_size, sampler=train_sampler, drop_last=True, num_workers=workers,
                       pin_memory=pin_memory, generator=generator, persistent_workers=workers > 0)
    # A generator of its own: iterating a loader without one draws from the global RNG, and an evaluation
    # would then change the dropout masks of every later training step.
    val = DataLoader(val_data, batch_size, sampler=val_sampler, num_workers=workers, pin_memory=pin_memory,
                     generator=torch.Generator().manual_seed(seed), persistent_workers=workers > 0)
    return Loaders(train_sampler, val_sampler, train, val, generator)


def prepare_model(model: nn.Module, num_classes: int, image_size: int, device: torch.device,
                  channels_last: bool) -> nn.Module:
    """The model on its device (channels_last if asked), checked to have one output per class."""
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    outputs = head_size(model, image_size, device)
    if outputs != num_classes:
        raise ValueError(
            f"the model has {outputs} outputs but the dataset has {num_classes} classes; "
            f"build it with num_classes={num_classes}"
        )
    return model


def wrap_for_processes(model: nn.Module, processes: Distributed, device: torch.device) -> nn.Module:
    """DistributedDataParallel across torchrun's processes; the bare model when alone."""
    if not processes.enabled:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def base_learning_rate(config: TrainConfig) -> float:
    """``config.lr``, or the family's default for its optimizer (``DEFAULT_LR``)."""
    if config.lr is not None:
        return config.lr
    return DEFAULT_LR[(models.get_spec(config.model).family, config.optimizer)]


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Trains one classifier; ``fit()`` runs the epochs, ``history`` holds one dict per epoch.

    The constructor only decides and assembles, in four named steps (where this
    process runs, the run's sizes, data and loaders, model and optimizer), with
    the functions above; the loop follows.
    """

    def __init__(self, config: TrainConfig, model: nn.Module | None = None,
                 train_data: Dataset | None = None, val_data: Dataset | None = None) -> None:
        self.config = config
        self.profile = get_profile(config.profile)
        self._place_process()
        self._decide_sizes(registry_model=model is None)
        seed_everything(config.seed)
        self._set_up_data(train_data, val_data)
        self._set_up_model(model)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: list[dict] = []  # one dict per epoch
        self.step_losses: list[float] = []  # the training loss of every optimizer step, in order
        self.checkpoint_step: int | None = None  # the step that checkpoint_path holds, once written or read
        if config.resume:
            self.load(self.checkpoint_path)

    def _place_process(self) -> None:
        """This process under torchrun (or alone), its device, the process group joined."""
        self.processes = distributed.from_environment()
        self.device = distributed.device_for(self.config.device, self.processes)
        distributed.join(self.processes, self.device)

    def _decide_sizes(self, registry_model: bool) -> None:
        """Epochs, batch, image size, precision and layout: the config's, else the profile's."""
        c, profile = self.config, self.profile
        self.epochs = c.epochs or profile.epochs
        self.batch_size = c.batch_size or profile.batch_size
        self.image_size = c.image_size or profile.image_size
        if registry_model:  # raise the size to the model's minimum (AlexNet needs 63 px)
            self.image_size = input_size_for(c.model, self.image_size)
        self.amp_dtype = amp_dtype_for(c.amp, self.device, profile)
        self.channels_last = profile.channels_last if c.channels_last is None else c.channels_last
        self.out_dir = Path(c.out_dir) if c.out_dir else run_dir(c.model)

    def _set_up_data(self, train_data: Dataset | None, val_data: Dataset | None) -> None:
        """The datasets (uint8 images; normalised on the device in ``_prepare``) and this process's loaders."""
        c, profile = self.config, self.profile
        if train_data is None or val_data is None:
            train_data, val_data = build_datasets(
                c.data, self.image_size, c.images_per_class or profile.images_per_class,
                c.val_images_per_class or profile.val_images_per_class, c.seed, c.data_root, c.download or None,
            )
        self.train_data, self.val_data = train_data, val_data
        self.classes, self.num_classes = class_names(train_data)
        workers = profile.num_workers if c.num_workers is None else c.num_workers
        self.loaders = make_loaders(train_data, val_data, self.batch_size, workers, self.processes, c.seed,
                                    pin_memory=self.device.type == "cuda")
        if len(self.loaders.train) < c.grad_accum_steps:
            raise ValueError(
                f"{len(train_data)} training images make {len(self.loaders.train)} batches of "
                f"{self.batch_size} per process, fewer than grad_accum_steps={c.grad_accum_steps}; "
                "use a smaller batch or more images"
            )
        self.steps_per_epoch = len(self.loaders.train) // c.grad_accum_steps
        self.total_steps = self.epochs * self.steps_per_epoch
        self.warmup_steps = int(round(c.warmup_epochs * self.steps_per_epoch))

    def _set_up_model(self, model: nn.Module | None) -> None:
        """The model on its device (DDP-wrapped under torchrun), its optimizer and loss scaler."""
        c = self.config
        if model is None:
            model = models.build(c.model, num_classes=self.num_classes, dropout=c.dropout, weights=c.weights)
        self.model = prepare_model(model, self.num_classes, self.image_size, self.device, self.channels_last)
        self.net = wrap_for_processes(self.model, self.processes, self.device)  # self.model: what checkpoints save
        self.base_lr = base_learning_rate(c)
        self.optimizer = make_optimizer(c.optimizer, _param_groups(self.model, c.weight_decay), self.base_lr,
                                        c.momentum, self.device, loss_scaling=self.amp_dtype == torch.float16)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    # -- pieces of the loop

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def _prepare(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        x = normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, labels

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _set_lr(self) -> float:
        c = self.config
        lr = learning_rate(self.step, self.base_lr, self.total_steps, self.warmup_steps, c.schedule,
                           self.steps_per_epoch, c.step_epochs, c.step_gamma)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_step(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
        """One optimizer step over ``grad_accum_steps`` micro-batches; returns (loss sum, top-1 hits, count)."""
        self._set_lr()
        loss_sum = torch.zeros((), device=self.device)
        hits = torch.zeros((), device=self.device, dtype=torch.long)
        count = 0
        for i, (images, labels) in enumerate(batches):
            x, y = self._prepare(images, labels)
            # Under DDP, only the last micro-batch all-reduces the gradients.
            sync = self.processes.enabled and i < len(batches) - 1
            with (self.net.no_sync() if sync else contextlib.nullcontext()), self._autocast():
                logits = self.net(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=self.config.label_smoothing)
            self.scaler.scale(loss / len(batches)).backward()
            loss_sum += loss.detach() * len(y)
            hits += (logits.argmax(1) == y).sum()
            count += len(y)
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return loss_sum, hits, count

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Validation loss (plain cross-entropy), top-1 and top-5 accuracy, summed over all processes."""
        self.model.eval()
        totals = torch.zeros(4, device=self.device, dtype=torch.float64)  # loss, top1, top5, n
        for images, labels in self.loaders.val:
            x, y = self._prepare(images, labels)
            with self._autocast():
                logits = self.model(x).float()
            top1, top5 = topk_correct(logits, y)
            totals += torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                                   top1.double(), top5.double(), torch.tensor(float(len(y)), device=self.device,
                                                                              dtype=torch.float64)])
        self.model.train()
        loss, top1, top5, n = distributed.sum_over_processes(totals, self.processes)
        return {"val_loss": loss / max(n, 1), "val_top1": top1 / max(n, 1), "val_top5": top5 / max(n, 1)}

    def _train_epoch(self, bar_factory) -> dict:
        c = self.config
        self.model.train()
        self.loaders.train_sampler.set_epoch(self.epoch)
        self.loaders.generator.manual_seed(c.seed * 1000 + self.epoch)  # worker seeds depend on the epoch only
        for data in (self.loaders.train.dataset, self.loaders.val.dataset):  # an EpochInWorkers passes it on
            if hasattr(data, "set_epoch"):
                data.set_epoch(self.epoch)
        loss_sum = torch.zeros((), device=self.device)
        hits = torch.zeros((), device=self.device, dtype=torch.long)
        seen, start, pending, step_losses = 0, time.perf_counter(), [], []
        bar = bar_factory(total=self.steps_per_epoch, desc=f"epoch {self.epoch + 1}", leave=False)
        for batch in self.loaders.train:
            pending.append(batch)
            if len(pending) < c.grad_accum_steps:
                continue
            batch_loss, batch_hits, n = self.train_step(pending)
            pending = []
            step_losses.append(batch_loss / n)  # a tensor: read once per epoch, not a GPU sync per step
            loss_sum += batch_loss
            hits += batch_hits
            seen += n
            bar.update(1)
            if bar.n % 10 == 0 or bar.n == self.steps_per_epoch:  # .item() syncs a GPU: not every step
                rate = seen * self.processes.world_size / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{hits.item() / seen:.3f}",
                                img_s=f"{rate:.0f}")
            if c.max_steps is not None and self.step >= c.max_steps:
                break
        bar.close()
        self.step_losses += torch.stack(step_losses).tolist() if step_losses else []
        seconds = seconds_since(start, self.device)
        stats = torch.stack([loss_sum.double(), hits.double(), torch.tensor(float(seen), device=self.device,
                                                                            dtype=torch.float64)])
        loss, correct, total = distributed.sum_over_processes(stats, self.processes)
        return {"train_loss": loss / max(total, 1), "train_top1": correct / max(total, 1),
                "images_per_second": total / seconds, "epoch_seconds": seconds}

    # -- the loop

    def fit(self, until_epoch: int | None = None) -> list[dict]:
        """Train to ``self.epochs`` (or stop after ``until_epoch``, as if interrupted); returns the history."""
        from .progress import progress_bar

        show = self.config.progress and self.processes.is_main

        def bar_factory(**kwargs):
            return progress_bar(disable=not show, dynamic_ncols=True, **kwargs)

        last = min(self.epochs, until_epoch) if until_epoch is not None else self.epochs
        outer = bar_factory(total=self.epochs, initial=self.epoch, desc=self.config.model, leave=True)
        while self.epoch < last and not self._reached_max_steps():
            record = {"epoch": self.epoch + 1, **self._train_epoch(bar_factory), **self.evaluate(),
                      "lr": self.optimizer.param_groups[0]["lr"], "step": self.step}  # lr of the last step
            self.epoch += 1
            self.history.append(record)
            outer.update(1)
            outer.set_postfix(val_top1=f"{record['val_top1']:.3f}", train_loss=f"{record['train_loss']:.3f}")
            if self.config.save_checkpoints and self.processes.is_main:
                self.save(self.checkpoint_path)
                self._write_history()
        outer.close()
        return self.history

    def _reached_max_steps(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps

    # -- checkpoints

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: weights, optimizer, scaler, counters, RNG, history."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model_name": self.config.model,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "rng": _rng_state(),
            "config": dataclasses.asdict(self.config),
            "classes": self.classes,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "history": self.history,
            "step_losses": self.step_losses,
        }

    def save(self, path: str | os.PathLike) -> None:
        save_torch_atomic(self.state_dict(), path)
        if Path(path) == self.checkpoint_path:
            self.checkpoint_step = self.step

    def load(self, path: str | os.PathLike) -> None:
        """Continue from a checkpoint written by ``save``; checks it belongs to this run."""
        ckpt = load_checkpoint(path)
        if ckpt["model_name"] != self.config.model or ckpt["num_classes"] != self.num_classes:
            raise ValueError(
                f"{path} holds {ckpt['model_name']} with {ckpt['num_classes']} classes, but this run "
                f"trains {self.config.model} with {self.num_classes}; use another out_dir or resume=False"
            )
        models.load_into(self.model, ckpt["model"], str(path))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:  # empty when saved without loss scaling (float32, bf16): an fp16 run scales afresh
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.history = list(ckpt["history"])
        self.step_losses = list(ckpt.get("step_losses", []))
        _set_rng_state(ckpt["rng"])
        if Path(path) == self.checkpoint_path:
            self.checkpoint_step = self.step

    def _write_history(self) -> None:
        save_history(self.history, self.out_dir / f"history.{self.config.history_format}")


def train(config: TrainConfig | None = None, **overrides) -> Trainer:
    """Build a Trainer, run it, and return it (``trainer.model``, ``trainer.history``)."""
    config = dataclasses.replace(config or TrainConfig(), **overrides)
    trainer = Trainer(config)
    trainer.fit()
    return trainer


# What the book's training chapters run, per model family and profile. The cpu recipes fit
# a few minutes on 2 cores; the gpu recipes are the classic ImageNet ones (90 epochs,
# SGD, step or cosine decay). Anything not listed comes from the profile.
RECIPES: dict[tuple[str, str], dict] = {
    ("alexnet", "smoke"): dict(epochs=1, max_steps=3, optimizer="adamw", lr=3e-4),
    # one step proves VGG's path: its 120-million-weight classifier makes every AdamW step slow on a CPU
    ("vgg", "smoke"): dict(epochs=1, max_steps=1, optimizer="adamw", lr=1e-3, image_size=32),
    ("squeezenet", "smoke"): dict(epochs=1, max_steps=3, optimizer="adamw", lr=1e-3),
    # AdamW: SGD at these step counts trains AlexNet more slowly and lets SqueezeNet's ReLUs die.
    # Sized for lpips_edu.booktools.time_budget on a 2-core AVX2 CPU: the training images are drawn afresh every
    # epoch, so fewer images per epoch only make more, shorter epochs (more points on the curves).
    # AlexNet's and VGG's steps cost most in their fully connected layers; SqueezeNet has none.
    # AlexNet, with no batch norm, needs warmup and clipping at lr 1e-3; at 3e-4 it still underfits after
    # 180 steps. Six short epochs give the curves six points.
    ("alexnet", "cpu"): dict(epochs=6, images_per_class=140, warmup_epochs=1.0, optimizer="adamw", lr=1e-3,
                             grad_clip=1.0, label_smoothing=0.1),
    # VGG: batches of 32 at lr 3e-4, and no dropout: a run this short underfits, and dropout in the classifier
    # slowed it most (batch norm keeps the convolutions trainable; higher rates trained worse here).
    ("vgg", "cpu"): dict(epochs=3, images_per_class=80, batch_size=32, warmup_epochs=0.5, optimizer="adamw",
                         lr=3e-4, image_size=32, label_smoothing=0.1, dropout=0.0),
    ("squeezenet", "cpu"): dict(epochs=5, optimizer="adamw", lr=1e-3, label_smoothing=0.1),
    ("alexnet", "gpu"): dict(lr=0.02, label_smoothing=0.1),
    ("vgg", "gpu"): dict(lr=0.01, label_smoothing=0.1),
    ("squeezenet", "gpu"): dict(lr=0.04, label_smoothing=0.1),
}


def recipe(model: str, profile: str = "auto", **overrides) -> TrainConfig:
    """The TrainConfig the book uses for ``model`` under ``profile`` (overrides win)."""
    profile_name = get_profile(profile).name
    family = models.get_spec(model).family
    settings = {**RECIPES.get((family, profile_name), {}), **overrides}
    return TrainConfig(model=models.get_spec(model).name, profile=profile_name, **settings)


@torch.no_grad()
def predict_dataset(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(class probabilities N x C, labels N) for a whole dataset, in order."""
    probs, labels = [], []
    for images, y in DataLoader(dataset, batch_size=batch_size):
        probs.append(predict(model, images))
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Class probabilities for a batch of uint8 images (N x 3 x H x W), in eval mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs = model(normalize(images.to(device))).float().softmax(1)
    model.train(was_training)
    return probs.cpu()


# ----------------------------------------------------------------------------- command line


def _parse_bool(text: str) -> bool:
    if text.lower() in {"1", "true", "yes", "on"}:
        return True
    if text.lower() in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """One --flag per TrainConfig field (``--model vgg16_bn --epochs 3 --lr 0.01 ...``)."""
    parser = argparse.ArgumentParser(prog="python -m lpips_edu.train", description=__doc__.split("\n")[0])
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = str(field.type)
        if kind.startswith("bool"):
            parser.add_argument(flag, type=_parse_bool, nargs="?", const=True, default=field.default)
        else:
            base = int if kind.startswith("int") else float if kind.startswith("float") else str
            parser.add_argument(flag, type=base, default=field.default)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    trainer = train(TrainConfig(**vars(args)))
    if trainer.processes.is_main and trainer.history:
        print(json.dumps(trainer.history[-1]))
        if trainer.config.save_checkpoints:
            print(f"checkpoint: {trainer.checkpoint_path}")
    distributed.leave(trainer.processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

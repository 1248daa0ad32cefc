"""Training LPIPS on 2AFC judgements: the three variants of the paper.

* ``lin``: the backbone is frozen; only the linear heads learn (LPIPS-lin, the published metric);
* ``tune``: heads and backbone learn together, starting from the given backbone weights;
* ``scratch``: the backbone is re-initialised at random, then everything learns.

The recipe is the lpips repository's ``train.py`` + ``Trainer``: for a batch of
triplets compute ``d0 = d(ref, p0)``, ``d1 = d(ref, p1)``, predict the human
judgement with ``Dist2LogitLayer`` and minimise binary cross-entropy; Adam
(lr 1e-4, betas (0.5, 0.999)); ``epochs`` at constant rate then
``decay_epochs`` with the rate falling linearly to zero; after every step the
head weights are clamped to >= 0. The metric runs in training mode, so the
dropout in front of every head is active, as in the lpips repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..lpips.metric import LPIPS
from .heads import BCERankingLoss, clamp_heads, is_head_parameter, reset_heads

VARIANTS = ("lin", "tune", "scratch")


@dataclass(frozen=True)
class HeadTrainingConfig:
    """Hyper-parameters of head training; defaults are the lpips repository's (5 + 5 epochs, batch 50)."""

    variant: str = "lin"
    epochs: int = 5  # epochs at the initial learning rate
    decay_epochs: int = 5  # epochs with linear decay to zero
    batch_size: int = 50
    lr: float = 1e-4
    beta1: float = 0.5
    seed: int = 0
    fresh_heads: bool = True  # start from random heads (as the lpips repository trains them)


def _distance(metric: nn.Module, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    return metric(x0, x1, normalize=True).reshape(-1, 1, 1, 1)


@torch.no_grad()
def _reset_backbone(metric: nn.Module) -> None:
    """PyTorch's default initialisation for every layer that is not a head (the "scratch" variant)."""
    for name, module in metric.named_modules():
        if name and not is_head_parameter(name + ".") and hasattr(module, "reset_parameters"):
            module.reset_parameters()


def set_training_mode(metric: nn.Module) -> None:
    """Training mode for the metric and explicitly for its heads (dropout on).

    ``lpips_edu.LPIPS.train()`` keeps the metric in eval mode on purpose (a
    metric used as a loss must not change), so the heads are switched by hand.
    """
    metric.train()
    for name, module in metric.named_modules():
        if name and is_head_parameter(name + ".") and "." not in name:
            module.train()


def prepare(metric: nn.Module, variant: str) -> list[nn.Parameter]:
    """Set which parameters learn for a variant and return them (heads first)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    if variant == "scratch":
        _reset_backbone(metric)
    trainable = []
    for name, p in metric.named_parameters():
        learn = is_head_parameter(name) or variant in ("tune", "scratch")
        p.requires_grad_(learn)
        if learn:
            trainable.append(p)
    return trainable


def make_optimizer(
    params: list[nn.Parameter], rank_loss: nn.Module, config: HeadTrainingConfig
) -> torch.optim.Optimizer:
    """Adam over the metric's trainable parameters and the ranking network, as the lpips repository does."""
    return torch.optim.Adam(list(params) + list(rank_loss.parameters()), lr=config.lr, betas=(config.beta1, 0.999))


def training_step(
    metric: nn.Module, rank_loss: nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One update on a batch of triplets in [0, 1]; returns the loss and the distances d0, d1."""
    d0 = _distance(metric, batch["ref"], batch["p0"])
    d1 = _distance(metric, batch["ref"], batch["p1"])
    loss = rank_loss(d0, d1, batch["judge"])
    _update(metric, optimizer, loss)
    return loss.item(), d0.detach(), d1.detach()


def _update(metric: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    clamp_heads(metric)  # after every step: distances stay sums of non-negative terms


def _head_dropout(metric: nn.Module) -> float:
    """The dropout probability in front of the heads (0 when the metric has none)."""
    for name, module in metric.named_modules():
        if isinstance(module, nn.Dropout) and is_head_parameter(name):
            return module.p
    return 0.0


def _cached_batches(n: int, batch_size: int, generator: torch.Generator):
    return torch.randperm(n, generator=generator).split(batch_size)


def train_heads(
    metric: nn.Module,
    train_set: Dataset,
    config: HeadTrainingConfig = HeadTrainingConfig(),
    val_set: Dataset | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    cache: bool | None = None,
    val_cache: dict | None = None,
) -> list[dict]:
    """Train ``metric`` (any LPIPS-like module with ``lin*`` heads) on 2AFC triplets; returns per-epoch history.

    Images are in [0, 1] (the metric is called with ``normalize=True``). The
    history lists, per epoch: mean loss, training 2AFC agreement, learning
    rate, and the validation 2AFC score when ``val_set`` is given.

    ``cache`` (default: on for the ``lin`` variant of ``lpips_edu.LPIPS``) computes the frozen
    backbone's features once (see ``cached.py``): same distances, many times
    faster; off, every step runs the full metric as the lpips repository does.
    ``val_cache``: ``cache_triplets(metric, val_set)`` computed already (the
    caller grades other heads on the same backbone), so it is not computed twice.
    """
    from ..progress import progress_bar
    from .cached import cache_triplets, cached_distance
    from .scoring import score_2afc, two_afc_agreement

    if cache is None:  # the cache reads lpips_edu.LPIPS's own features; other metrics run in full
        cache = config.variant == "lin" and isinstance(metric, LPIPS)
    if cache and config.variant != "lin":
        raise ValueError(f"cache=True needs a frozen backbone (variant 'lin'), not {config.variant!r}")
    torch.manual_seed(config.seed)
    metric.to(device)
    if config.fresh_heads:
        reset_heads(metric, seed=config.seed)
    params = prepare(metric, config.variant)
    rank_loss = BCERankingLoss().to(device)
    optimizer = make_optimizer(params, rank_loss, config)
    generator = torch.Generator().manual_seed(config.seed)
    if cache:
        train_cache = cache_triplets(metric, train_set, device=device, progress=progress)
        if val_cache is None and val_set is not None:
            val_cache = cache_triplets(metric, val_set, device=device, progress=progress)
        dropout = _head_dropout(metric)
    else:
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)
    history: list[dict] = []
    lr = config.lr
    total = config.epochs + config.decay_epochs
    for epoch in progress_bar(range(1, total + 1), desc=f"train {config.variant}", disable=not progress, leave=False):
        set_training_mode(metric)
        losses, agreements = [], []
        if cache:
            for idx in _cached_batches(len(train_cache["judge"]), config.batch_size, generator):
                d0 = cached_distance(metric, [m[idx] for m in train_cache["m0"]], dropout)
                d1 = cached_distance(metric, [m[idx] for m in train_cache["m1"]], dropout)
                judge = train_cache["judge"][idx].to(d0.device)
                loss = rank_loss(d0, d1, judge)
                _update(metric, optimizer, loss)
                losses.append(loss.item())
                agreements.append(
                    two_afc_agreement(d0.detach().cpu().numpy(), d1.detach().cpu().numpy(), judge.cpu().numpy())
                )
        else:
            for batch in loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                loss, d0, d1 = training_step(metric, rank_loss, optimizer, batch)
                losses.append(loss)
                agreements.append(two_afc_agreement(d0.cpu().numpy(), d1.cpu().numpy(), batch["judge"].cpu().numpy()))
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "train_2afc": float(np.concatenate(agreements).mean()),
            "lr": lr,
        }
        metric.eval()
        if (val_cache is not None) if cache else (val_set is not None):
            if cache:
                with torch.no_grad():
                    d0, d1 = cached_distance(metric, val_cache["m0"]), cached_distance(metric, val_cache["m1"])
                row["val_2afc"] = float(
                    two_afc_agreement(d0.cpu().numpy(), d1.cpu().numpy(), val_cache["judge"].numpy()).mean()
                )
            else:
                row["val_2afc"] = score_2afc(val_set, lambda a, b: metric(a.to(device), b.to(device), normalize=True))[
                    0
                ]
        history.append(row)
        if epoch > config.epochs:  # the lpips repository's update_learning_rate: subtract lr / decay_epochs each epoch
            lr = max(lr - config.lr / max(config.decay_epochs, 1), 0.0)
            for group in optimizer.param_groups:
                group["lr"] = lr
    metric.eval()
    for p in metric.parameters():
        p.requires_grad_(False)  # a trained metric is used as a fixed function (or a loss w.r.t. images)
    return history

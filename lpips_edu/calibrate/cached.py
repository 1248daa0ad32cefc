"""Fast training of the heads on a frozen backbone: compute the features once, not every epoch.

With the backbone frozen, an LPIPS distance is a dot product:

    d(x0, x1) = sum_l mean_hw( w_l . (y0_l - y1_l)^2 ) = sum_l w_l . m_l,
    m_l = mean_hw (y0_l - y1_l)^2   (one number per channel)

because the head is linear and the spatial mean commutes with it. So the
per-channel means ``m_l`` of every training pair are computed once, and each
epoch costs a few matrix-vector products instead of a backbone pass per
image. Distances (and so scores) are exactly those of the metric in eval
mode. The one departure from the lpips repository's recipe: dropout is applied to
``m_l`` instead of to every position before averaging (same expectation,
less noise).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..lpips.linear_heads import head_modules
from ..lpips.metric import LPIPS, channel_means, weigh_channels


def _taps(metric: LPIPS, x: torch.Tensor) -> list[torch.Tensor]:
    """The metric's own unit-normalised taps of images in [0, 1] (``LPIPS.features``)."""
    if not isinstance(metric, LPIPS):
        raise TypeError(f"cached features need an lpips_edu.LPIPS, not {type(metric).__name__}; "
                        "train other metrics with cache=False")
    return list(metric.features(x, normalize=True).taps)


@torch.no_grad()
def channel_mean_diffs(metric: LPIPS, x0: torch.Tensor, x1: torch.Tensor) -> list[torch.Tensor]:
    """``m_l`` for every tap: N x C_l spatial means of squared differences of normalised features."""
    return [channel_means(a, b) for a, b in zip(_taps(metric, x0), _taps(metric, x1))]


@torch.no_grad()
def cache_triplets(metric: LPIPS, data: Dataset, batch_size: int = 64, device: torch.device | str | None = None,
                   progress: bool = False) -> dict[str, list[torch.Tensor] | torch.Tensor]:
    """``m0`` (ref vs p0), ``m1`` (ref vs p1) per tap, and the judgements, for a whole 2AFC dataset.

    The images go to ``device`` (default: the metric's); the cache is kept on the CPU.
    """
    from ..progress import progress_bar

    device = device if device is not None else metric.scaling_layer.shift.device
    m0, m1, judges = [], [], []
    metric.eval()
    # A generator of its own: a loader without one draws from the global RNG, and computing features would
    # change the dropout masks of the training that follows.
    loader = DataLoader(data, batch_size=batch_size, generator=torch.Generator())
    for batch in progress_bar(loader, desc="features", disable=not progress, leave=False):
        ref, p0, p1 = (_taps(metric, batch[k].to(device)) for k in ("ref", "p0", "p1"))  # ref once
        m0.append([channel_means(r, a) for r, a in zip(ref, p0)])
        m1.append([channel_means(r, b) for r, b in zip(ref, p1)])
        judges.append(batch["judge"].reshape(-1).float())
    taps = len(m0[0])
    return {
        "m0": [torch.cat([b[k] for b in m0]).cpu() for k in range(taps)],
        "m1": [torch.cat([b[k] for b in m1]).cpu() for k in range(taps)],
        "judge": torch.cat(judges).cpu(),
    }


def cached_2afc_scores(metric: nn.Module, cache: dict) -> np.ndarray:
    """Per-triplet 2AFC agreement of the metric's current heads on a ``cache_triplets`` cache.

    The same numbers as ``score_2afc`` with the metric itself, for the cost of a dot
    product: grading paper heads, equal weights and trained heads on one backbone
    pass per dataset.
    """
    from .scoring import two_afc_agreement

    with torch.no_grad():
        d0, d1 = cached_distance(metric, cache["m0"]), cached_distance(metric, cache["m1"])
    return two_afc_agreement(d0.cpu().numpy(), d1.cpu().numpy(), cache["judge"].numpy())


def cached_distance(metric: nn.Module, means: list[torch.Tensor], dropout: float = 0.0) -> torch.Tensor:
    """``sum_l w_l . m_l`` with the metric's current heads (differentiable in the head weights)."""
    total = 0.0
    for conv, m in zip(head_modules(metric).values(), means):
        m = m.to(conv.weight.device)
        if dropout > 0:
            m = nn.functional.dropout(m, p=dropout, training=True)
        total = total + weigh_channels(m, conv.weight)
    return total

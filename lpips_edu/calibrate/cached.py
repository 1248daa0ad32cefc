"""Fast training of the heads on a frozen backbone: compute the features once, not every epoch.

With the backbone frozen, an LPIPS distance is a dot product:

    d(x0, x1) = sum_l mean_hw( w_l . (y0_l - y1_l)^2 ) = sum_l w_l . m_l,
    m_l = mean_hw (y0_l - y1_l)^2   (one number per channel)

because the head is linear and the spatial mean commutes with it. So the
per-channel means ``m_l`` of every training pair are computed once, and each
epoch costs a few matrix-vector products instead of a backbone pass per
image. Distances (and so scores) are exactly those of the metric in eval
mode. The one departure from the reference recipe: dropout is applied to
``m_l`` instead of to every position before averaging (same expectation,
less noise).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .heads import head_modules


@torch.no_grad()
def normalized_taps(metric: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Unit-normalised feature taps of images in [0, 1], from ``lpips_edu.LPIPS`` or ``lpips.LPIPS``."""
    if callable(getattr(metric, "features", None)) and not isinstance(metric.features, nn.Module):
        return list(metric.features(x, normalize=True).taps)  # lpips_edu.LPIPS
    import lpips

    x = 2 * x - 1
    if getattr(metric, "version", "0.1") == "0.1":
        x = metric.scaling_layer(x)
    return [lpips.normalize_tensor(t) for t in metric.net.forward(x)]


@torch.no_grad()
def channel_mean_diffs(metric: nn.Module, x0: torch.Tensor, x1: torch.Tensor) -> list[torch.Tensor]:
    """``m_l`` for every tap: N x C_l spatial means of squared differences of normalised features."""
    return [(a - b).pow(2).mean(dim=(2, 3)) for a, b in zip(normalized_taps(metric, x0), normalized_taps(metric, x1))]


@torch.no_grad()
def cache_triplets(metric: nn.Module, data: Dataset, batch_size: int = 64, device: torch.device | str = "cpu",
                   progress: bool = False) -> dict[str, list[torch.Tensor] | torch.Tensor]:
    """``m0`` (ref vs p0), ``m1`` (ref vs p1) per tap, and the judgements, for a whole 2AFC dataset."""
    from ..progress import progress_bar

    m0, m1, judges = [], [], []
    metric.eval()
    for batch in progress_bar(
        DataLoader(data, batch_size=batch_size), desc="features", disable=not progress, leave=False
    ):
        ref, p0, p1 = (normalized_taps(metric, batch[k].to(device)) for k in ("ref", "p0", "p1"))  # ref once
        m0.append([(r - a).pow(2).mean(dim=(2, 3)) for r, a in zip(ref, p0)])
        m1.append([(r - b).pow(2).mean(dim=(2, 3)) for r, b in zip(ref, p1)])
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
    return two_afc_agreement(d0.numpy(), d1.numpy(), cache["judge"].numpy())


def cached_distance(metric: nn.Module, means: list[torch.Tensor], dropout: float = 0.0) -> torch.Tensor:
    """``sum_l w_l . m_l`` with the metric's current heads (differentiable in the head weights)."""
    total = 0.0
    for conv, m in zip(head_modules(metric).values(), means):
        m = m.to(conv.weight.device)
        if dropout > 0:
            m = nn.functional.dropout(m, p=dropout, training=True)
        total = total + m @ conv.weight.reshape(-1)
    return total

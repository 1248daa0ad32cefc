"""Peak activation memory of a forward pass, measured, and how it grows with the image size.

On CUDA the caching allocator counts for us (``max_memory_allocated``). On
the CPU PyTorch keeps no such statistics, so ``AllocationTracker`` watches
every operator through a ``TorchDispatchMode``: each new output storage adds
its bytes to the live total, and a weak-reference finaliser subtracts them
when the tensor is freed. The peak of that running total is what the
forward pass needed on top of its weights and its input. It counts tensors
made by operators (what a network allocates), not the allocator's padding
or the framework's scratch buffers (e.g. im2col workspaces inside a kernel),
so it is a lower bound of what the process needs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class AllocationTracker(TorchDispatchMode):
    """Live and peak bytes of tensors created by operators while the mode is active."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in self.live:  # views and in-place results reuse a live storage
                continue
            self.live[key] = nbytes
            self.current += nbytes
            self.peak = max(self.peak, self.current)
            weakref.finalize(t, self._release, key)
        return out


def peak_activation_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak bytes allocated while ``fn()`` runs, beyond what existed before (weights, inputs)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        del result
        return int(torch.cuda.max_memory_allocated(device) - before)
    tracker = AllocationTracker()
    with tracker:
        result = fn()
    del result
    return int(tracker.peak)


def _channels_last_features(metric, x: torch.Tensor):
    return metric.net.forward_features(x.contiguous(memory_format=torch.channels_last))


def memory_table(metrics: dict, sizes, device: torch.device | str = "cpu", batch: int = 1) -> pd.DataFrame:
    """Peak activation memory of the backbone's taps and of one LPIPS distance, per model and image size."""
    device = torch.device(device)
    rows = []
    for name, metric in metrics.items():
        weights = sum(p.numel() * p.element_size() for p in metric.net.parameters())
        for size in sizes:
            a = torch.rand(batch, 3, size, size, device=device) * 2 - 1
            b = (a * 0.9).contiguous()
            for mode, fn in (
                ("features", partial(_channels_last_features, metric, a)),
                ("lpips", partial(metric, a, b)),
            ):
                with torch.inference_mode():
                    peak = peak_activation_bytes(fn, device)
                rows.append({"model": name, "mode": mode, "size": size, "pixels": size * size, "batch": batch,
                             "peak_mb": peak / 2**20, "peak_mb_per_image": peak / 2**20 / batch,
                             "weights_mb": weights / 2**20, "device": device.type})
    return pd.DataFrame(rows)


def fit_scaling(table: pd.DataFrame, value: str = "peak_mb_per_image") -> pd.DataFrame:
    """Per (model, mode): a straight line ``value = a + b * pixels`` and the log-log exponent.

    Activations of a convolutional network grow with the number of pixels, so
    the exponent should be close to 1; the intercept is what does not scale
    (the classifier-free taps still need a few fixed buffers).
    """
    rows = []
    for (model, mode), g in table.groupby(["model", "mode"]):
        x, y = g["pixels"].to_numpy(float), g[value].to_numpy(float)
        if len(g) < 2:
            continue
        slope, intercept = np.polyfit(x, y, 1)
        exponent = np.polyfit(np.log(x), np.log(np.maximum(y, 1e-12)), 1)[0]
        pred = intercept + slope * x
        r2 = 1 - ((y - pred) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-30)
        rows.append({"model": model, "mode": mode, "mb_per_megapixel": slope * 1e6, "intercept_mb": intercept,
                     "loglog_exponent": exponent, "r2": r2})
    return pd.DataFrame(rows).set_index(["model", "mode"])

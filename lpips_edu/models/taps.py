"""Reading the intermediate activations that LPIPS compares ("taps").

LPIPS does not look at a network's prediction; it looks at a handful of
feature maps inside ``features``. Every backbone in this package is a flat
``nn.Sequential`` called ``features``, so a tap is simply "the output of
``features[i]``". Naming taps by index keeps the models identical to
torchvision's (no extra modules, same ``state_dict`` keys) while letting
``forward_features`` stop as soon as the last requested tap is computed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ..input_checks import check_images


def run_to_taps(features: nn.Sequential, indices: Iterable[int], x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs of ``features[i]`` for every ``i`` in ``indices``, in layer order; stops at the last one.

    The one loop behind ``forward_features`` and ``TapsAsTuple`` (plain Python
    over a Sequential: FX, TorchScript and ONNX trace it).
    """
    wanted = sorted(set(indices))
    outs = []
    for i, layer in enumerate(features):
        x = layer(x)
        if i in wanted:
            outs.append(x)
        if i == wanted[-1]:
            break
    return outs


class FeatureTapsMixin:
    """Adds ``forward_features`` to a model with a ``features`` Sequential.

    Subclasses set ``lpips_taps``: an ordered mapping from tap name to the
    index of the ``features`` layer whose output is tapped, and
    ``min_input_size``: the smallest square input for which every tap exists.
    """

    features: nn.Sequential
    lpips_taps: Mapping[str, int]
    min_input_size: int

    def forward_features(
        self, x: torch.Tensor, taps: Iterable[str] | None = None
    ) -> "OrderedDict[str, torch.Tensor]":
        """Run ``features`` up to the last requested tap and return the taps, shallow to deep.

        ``taps`` defaults to all of ``lpips_taps``. Layers after the last
        requested tap are never run, so asking for early taps is cheap.
        """
        wanted = list(self.lpips_taps) if taps is None else list(taps)
        unknown = [t for t in wanted if t not in self.lpips_taps]
        if unknown:
            raise ValueError(
                f"unknown tap(s) {unknown} for {type(self).__name__}; "
                f"available taps are {list(self.lpips_taps)}"
            )
        self.check_input(x, self.min_input_size, "forward_features")
        names = [t for t in self.lpips_taps if t in wanted]  # the order of lpips_taps, not of the request
        return OrderedDict(zip(names, run_to_taps(self.features, [self.lpips_taps[t] for t in names], x)))

    def check_input(self, x: torch.Tensor, min_size: int, method: str) -> None:
        """Fail early, with the minimum size, instead of deep inside a pooling layer."""
        check_images(x, f"the input of {type(self).__name__}.{method}", min_size=min_size,
                     network=type(self).__name__, check_range=False)


class TapsAsTuple(nn.Module):
    """A backbone's ``features`` run to its deepest tap, the taps returned as a tuple.

    What graph tools need (FX quantisation, ONNX and TorchScript export): no
    input checks, no dict, the same loop as ``forward_features``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.features = backbone.features
        self.indices = sorted(backbone.lpips_taps.values())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(run_to_taps(self.features, self.indices, x))

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
        """Run ``features`` up to the last requested tap and return the taps.

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
        check_input(x, self.min_input_size, type(self).__name__, "forward_features")
        index_to_name = {self.lpips_taps[t]: t for t in wanted}
        last = max(index_to_name)
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in index_to_name:
                out[index_to_name[i]] = x
            if i == last:
                break
        # Return taps in the order of lpips_taps (shallow to deep), not request order.
        return OrderedDict((t, out[t]) for t in self.lpips_taps if t in out)


def check_input(x: torch.Tensor, min_size: int, model_name: str, what: str) -> None:
    """Fail early, with the minimum size, instead of deep inside a pooling layer."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model_name}.{what} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{model_name}.{what} expects a batch of images N x 3 x H x W, got shape "
            f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0)"
        )
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(
            f"input of {h}x{w} pixels is too small for {model_name}.{what}: "
            f"the minimum is {min_size}x{min_size}; resize or pad the images"
        )

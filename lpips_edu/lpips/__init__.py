"""The metric: LPIPS (a drop-in for ``lpips.LPIPS``), its linear heads, export, DISTS, and the peers.

* ``metric``: ``LPIPS`` and the pieces of its sum (input scaling, channel
  normalisation, squared differences, per-channel means, the heads' weights);
* ``linear_heads``: the 1 x 1 heads and their files (the official format);
* ``export``: the same arithmetic as one plain graph, to ONNX and TorchScript;
* ``dists``: ``DISTS`` (Ding et al. 2020), structure and texture statistics of VGG-16 features;
* ``attack``: projected gradient steps that flip a 2AFC decision (chapter 7b);
* ``ensemble``: an E-LPIPS-style ensemble of random transformations on the official heads (chapter 7b);
* ``peer``: ``lpips.LPIPS`` and torchmetrics' DISTS on our backbone weights, to compare numbers with.
"""

from .dists import DISTS
from .linear_heads import NetLinLayer, official_heads_file
from .metric import (
    LPIPS,
    RANGE_TOLERANCE,
    LPIPSFeatures,
    ScalingLayer,
    channel_means,
    normalize_tensor,
    weigh_channels,
)

__all__ = ["LPIPS", "DISTS", "LPIPSFeatures", "ScalingLayer", "NetLinLayer", "normalize_tensor", "channel_means",
           "weigh_channels", "official_heads_file", "RANGE_TOLERANCE"]

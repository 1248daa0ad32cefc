"""Integer (int8) versions of a backbone with ``torch.ao.quantization``, or an honest "unsupported".

* dynamic quantisation of the classifier (``quantize_dynamic`` on the
  ``nn.Linear`` layers): weights stored in int8, activations quantised on
  the fly. It speeds up the fully connected layers that hold most of
  AlexNet's and VGG's weights, which LPIPS never runs: it matters for the
  classification network, not for the metric;
* static post-training quantisation of ``features`` (FX graph mode):
  observers record activation ranges on calibration images, then every
  convolution runs in int8. This is what could make LPIPS itself faster.

The quantised graph returns the taps as a tuple, so ``QuantizedBackbone``
gives it the ``forward_features`` interface ``lpips_edu.LPIPS`` expects.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from ..models.taps import TapsAsTuple


class QuantizedBackbone(nn.Module):
    """A quantised ``TapsAsTuple`` graph behind the backbone interface (``forward_features``, taps, min size)."""

    def __init__(self, graph: nn.Module, backbone: nn.Module) -> None:
        super().__init__()
        self.graph = graph
        self.lpips_taps = dict(backbone.lpips_taps)
        self.min_input_size = backbone.min_input_size
        # LPIPS reads dtype and device from the first parameter; an int8 graph has no float parameters.
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward_features(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return OrderedDict(zip(self.lpips_taps, self.graph(x.contiguous())))


def quantize_backbone_static(backbone: nn.Module, calibration: torch.Tensor, backend: str = "x86") -> QuantizedBackbone:
    """Post-training static int8 quantisation of ``features`` (FX), calibrated on images in LPIPS's input scale."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = backend
    model = TapsAsTuple(copy.deepcopy(backbone).float().to(memory_format=torch.contiguous_format)).eval()
    prepared = prepare_fx(model, get_default_qconfig_mapping(backend), example_inputs=(calibration[:1],))
    with torch.no_grad():
        prepared(calibration)
    return QuantizedBackbone(convert_fx(prepared), backbone)


def quantize_classifier_dynamic(model: nn.Module) -> nn.Module:
    """int8 weights for every ``nn.Linear`` (dynamic quantisation); the convolutions stay float."""
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)

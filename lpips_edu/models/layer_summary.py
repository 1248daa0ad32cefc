"""Layer tables and receptive fields: what a reader inspects in each chapter.

``layer_table`` walks ``model.features`` with a real tensor, so the output
shapes are measured, not computed by hand; receptive fields follow the usual
recurrence (Araujo et al., 2019): a k x k layer with stride s grows the
receptive field by ``(k - 1) * jump`` and multiplies the ``jump`` (the
distance in input pixels between neighbouring outputs) by s.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from .squeezenet import Fire


def _kernel_stride(layer: nn.Module) -> tuple[int, int]:
    """Spatial kernel size and stride of a layer (1, 1 for pointwise layers)."""
    if isinstance(layer, Fire):
        return 3, 1  # the widest branch is the 3x3 expand convolution, stride 1
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
        d = getattr(layer, "dilation", 1)
        d = d if isinstance(d, int) else d[0]
        return d * (k - 1) + 1, s
    return 1, 1


def receptive_fields(features: nn.Sequential) -> list[tuple[int, int]]:
    """(receptive field in pixels, jump in pixels) after every layer of ``features``."""
    rf, jump, out = 1, 1, []
    for layer in features:
        k, s = _kernel_stride(layer)
        rf += (k - 1) * jump
        jump *= s
        out.append((rf, jump))
    return out


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _describe(layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv2d):
        k = layer.kernel_size[0]
        groups = f", groups={layer.groups}" if layer.groups > 1 else ""
        return f"conv {k}x{k}/{layer.stride[0]}, {layer.out_channels}{groups}"
    if isinstance(layer, nn.MaxPool2d):
        return f"maxpool {layer.kernel_size}x{layer.kernel_size}/{layer.stride}"
    if isinstance(layer, Fire):
        return (
            f"fire: squeeze {layer.squeeze.out_channels}, expand "
            f"{layer.expand1x1.out_channels}+{layer.expand3x3.out_channels}"
        )
    return type(layer).__name__


@torch.no_grad()
def layer_table(model: nn.Module, image_size: int = 224) -> pd.DataFrame:
    """One row per layer of ``model.features``: output shape, parameters, receptive field, LPIPS tap."""
    taps = {index: name for name, index in getattr(model, "lpips_taps", {}).items()}
    x = torch.zeros(1, 3, image_size, image_size, device=_device_of(model))
    rows = []
    for i, (layer, (rf, jump)) in enumerate(zip(model.features, receptive_fields(model.features))):
        x = layer(x)
        rows.append(
            {
                "index": i,
                "layer": _describe(layer),
                "output (C x H x W)": " x ".join(str(d) for d in x.shape[1:]),
                "parameters": sum(p.numel() for p in layer.parameters()),
                "receptive field (px)": rf,
                "jump (px)": jump,
                "LPIPS tap": taps.get(i, ""),
            }
        )
    return pd.DataFrame(rows).set_index("index")


@torch.no_grad()
def tap_shapes(model: nn.Module, image_size: int = 64) -> pd.DataFrame:
    """Shape, size and receptive field of every LPIPS tap for a square input."""
    feats = model.forward_features(torch.zeros(1, 3, image_size, image_size))
    rfs = receptive_fields(model.features)
    rows = []
    for name, t in feats.items():
        index = model.lpips_taps[name]
        rows.append(
            {
                "tap": name,
                "features index": index,
                "channels": t.shape[1],
                "height x width": f"{t.shape[2]} x {t.shape[3]}",
                "values per image": t[0].numel(),
                "receptive field (px)": rfs[index][0],
            }
        )
    return pd.DataFrame(rows).set_index("tap")


def parameter_summary(model: nn.Module) -> pd.DataFrame:
    """Parameters of ``features`` versus ``classifier``: where the weights of a network live."""
    parts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    total = sum(parts.values())
    return pd.DataFrame(
        {"parameters": parts, "share": {k: v / total for k, v in parts.items()}}
    ).rename_axis("part")


@torch.no_grad()
def count_flops(model: nn.Module, image_size: int = 224, features_only: bool = False) -> int:
    """Floating-point operations for one image, counted by ``torch.utils.flop_counter``.

    A multiply-add counts as two operations. Counting what PyTorch actually
    dispatches avoids the hand formulas that papers disagree on.
    """
    from torch.utils.flop_counter import FlopCounterMode

    # Same device as the model: on the "meta" device nothing is computed, only counted.
    x = torch.zeros(1, 3, image_size, image_size, device=_device_of(model))
    with FlopCounterMode(display=False) as counter:
        if features_only:
            model.forward_features(x)
        else:
            model(x)
    return counter.get_total_flops()

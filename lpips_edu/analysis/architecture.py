"""What each network *is*: parameters, bytes on disk, FLOPs, receptive fields of the LPIPS taps.

Nothing here is typed in from a paper. Parameters are counted, FLOPs are
counted by ``torch.utils.flop_counter`` on the "meta" device (shapes only,
no arithmetic, so VGG-16 at 224 px costs milliseconds), file sizes are the
bytes ``torch.save`` writes, and tap shapes and receptive fields come from
``lpips_edu.models.layer_summary``.
"""

from __future__ import annotations

import io

import pandas as pd
import torch
from torch import nn

from .. import models
from ..models.layer_summary import count_flops, layer_table, tap_shapes


def meta_model(name: str) -> nn.Module:
    """The registry model on the "meta" device: real shapes, no memory, no initialisation cost."""
    with torch.device("meta"):
        return models.get_spec(name).builder(num_classes=1000)


def _saved_bytes(state: dict[str, torch.Tensor]) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def shape_model(name: str) -> nn.Module:
    """The model with uninitialised CPU memory: for shapes, where values do not matter (no slow init)."""
    return meta_model(name).to_empty(device="cpu")


PRECISION_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}


def disk_sizes(model: nn.Module, part: str | None = None) -> dict[str, int]:
    """Bytes that ``torch.save`` writes for the float state dict in fp32, fp16 and int8.

    ``torch.save`` stores raw tensor bytes (no compression), so the size is
    the bytes of the data plus the file's bookkeeping (zip headers, names,
    alignment). The bookkeeping is measured by saving the same dict with
    one-element tensors, which keeps VGG-16 from writing half a gigabyte to
    memory; the data bytes are added. An int8 file also holds one float
    scale per tensor. ``tests/test_analysis.py`` checks this against a real save.
    """
    module = getattr(model, part) if part else model
    shapes = {k: v.shape for k, v in module.state_dict().items() if v.is_floating_point()}
    out = {}
    for precision, nbytes in PRECISION_BYTES.items():
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "int8": torch.int8}[precision]
        tiny = {k: torch.zeros(1, dtype=dtype) for k in shapes}
        data = sum(int(torch.Size(s).numel()) * nbytes for s in shapes.values())
        if precision == "int8":
            tiny.update({k + ".scale": torch.zeros(1) for k in shapes})
        out[precision] = _saved_bytes(tiny) - nbytes * len(shapes) + data
    return out


def architecture_row(name: str, flop_sizes=(64, 224), measure_disk: bool = True) -> dict:
    """One row of the architecture table for a registered model."""
    spec = models.get_spec(name)
    meta = meta_model(name)
    row: dict = {
        "model": name,
        "family": spec.family,
        "params_total": sum(p.numel() for p in meta.parameters()),
        "params_features": sum(p.numel() for p in meta.features.parameters()),
    }
    row["params_classifier"] = row["params_total"] - row["params_features"]
    row["lpips_taps"] = len(meta.lpips_taps)
    taps = meta.forward_features(torch.zeros(1, 3, 64, 64, device="meta"))
    row["tap_channels"] = sum(t.shape[1] for t in taps.values())
    for size in flop_sizes:
        row[f"gflops_{size}px"] = count_flops(meta, size) / 1e9
        row[f"gflops_features_{size}px"] = count_flops(meta, size, features_only=True) / 1e9
    if measure_disk:
        for part, label in ((None, "model"), ("features", "features")):
            for precision, size in disk_sizes(meta, part).items():
                row[f"mb_{label}_{precision}"] = size / 2**20
    return row


def architecture_table(names=("alexnet", "vgg16", "squeezenet1_1"), flop_sizes=(64, 224),
                       measure_disk: bool = True) -> pd.DataFrame:
    """Parameters, FLOPs and file sizes of every model, one row each."""
    return pd.DataFrame([architecture_row(n, flop_sizes, measure_disk) for n in names]).set_index("model")


def tap_table(names=("alexnet", "vgg16", "squeezenet1_1"), image_size: int = 64) -> pd.DataFrame:
    """Channels, spatial size and receptive field of every LPIPS tap of every model (long format)."""
    frames = []
    for name in names:
        model = shape_model(name)
        frames.append(tap_shapes(model, image_size).reset_index().assign(model=name))
    return pd.concat(frames, ignore_index=True).set_index(["model", "tap"])


def layer_parameters(names=("alexnet", "vgg16", "squeezenet1_1"), image_size: int = 64) -> pd.DataFrame:
    """Per-layer table (``summary.layer_table``) of every model's ``features``, plus the classifier as one row."""
    frames = []
    for name in names:
        model = shape_model(name)
        table = layer_table(model, image_size).reset_index()
        classifier = sum(p.numel() for p in model.classifier.parameters())
        table.loc[len(table)] = {"index": len(table), "layer": "classifier (all)", "parameters": classifier}
        frames.append(table.assign(model=name))
    return pd.concat(frames, ignore_index=True)

"""Exporting an LPIPS metric for deployment: ONNX (run with onnxruntime) and TorchScript.

``lpips_edu.LPIPS`` checks its inputs, switches autograd modes and returns
tensors of shape N x 1 x 1 x 1: good for Python users, not traceable.
``ExportableLPIPS`` is the same arithmetic as one plain graph: backbone taps
(as a tuple), channel normalisation, squared differences, spatial means and
the linear heads, for images in [-1, 1], returning N distances. The export
functions check that the exported file gives the metric's distances before
they return (``atol`` 1e-5), so a silent mismatch cannot ship.

ONNX export uses the TorchScript-based exporter (``dynamo=False``): the
dynamo exporter needs the ``onnxscript`` package. Install the tools with
``pip install "lpips-edu[export]"`` (onnx, onnxruntime).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..io import write_with
from ..models.taps import TapsAsTuple
from .metric import LPIPS, channel_means, full_float32, normalize_tensor, weigh_channels


class ExportableLPIPS(nn.Module):
    """``LPIPS`` (fp32, non-spatial) as a traceable module: ``(in0, in1) -> N`` distances, images in [-1, 1].

    It works on a float32, contiguous copy of the metric's backbone: exporting
    leaves the metric exactly as it was.
    """

    def __init__(self, metric: LPIPS) -> None:
        super().__init__()
        if metric.spatial:
            raise ValueError("export supports spatial=False (one distance per pair)")
        if metric.precision != "fp32":
            raise ValueError(f"export a float32 metric (got precision={metric.precision!r}); "
                             "reduced precision is a runtime choice (e.g. onnxruntime's float16 conversion)")
        backbone = copy.deepcopy(metric.net).float().to(memory_format=torch.contiguous_format)
        self.taps = TapsAsTuple(backbone)
        self.scale = metric.version == "0.1"
        self.register_buffer("shift", metric.scaling_layer.shift.clone())
        self.register_buffer("divisor", metric.scaling_layer.scale.clone())
        self.layers = metric.L
        for k, lin in enumerate(metric.lins if metric.lpips else [None] * metric.L):
            if lin is not None:
                self.register_buffer(f"w{k}", lin.weight.detach().reshape(-1).clone())
            else:
                self.register_buffer(f"w{k}", None)

    def forward(self, in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
        n = in0.shape[0]
        x = torch.cat([in0, in1])
        if self.scale:
            x = (x - self.shift) / self.divisor
        terms = [weigh_channels(channel_means(t[:n], t[n:]), getattr(self, f"w{k}"))
                 for k, t in enumerate(normalize_tensor(t) for t in self.taps(x))]
        return sum(terms[1:], terms[0])  # in tap order, as the metric adds them


def _example(metric: LPIPS, image_size: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches of example images, on the metric's device (the trace runs there)."""
    g = torch.Generator().manual_seed(0)
    size = max(image_size, metric.min_input_size)
    a = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    b = (a + 0.2 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    device = metric.scaling_layer.shift.device
    return a.to(device), b.to(device)


def _check_close(got, want: torch.Tensor, what: str, atol: float) -> None:
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
    want = want.detach().reshape(-1).cpu().numpy()
    err = float(np.abs(np.asarray(got).reshape(-1) - want).max())
    if err > atol:
        raise RuntimeError(f"{what} differs from the PyTorch metric by {err:.3g} (> {atol:g}); not saved")


def export_onnx(metric: LPIPS, path: str | os.PathLike, image_size: int = 64, opset: int = 17,
                atol: float = 1e-5) -> Path:
    """Write ``metric`` as an ONNX graph with dynamic batch and image size; verified with onnxruntime."""
    module = ExportableLPIPS(metric).eval()
    a, b = _example(metric, image_size)

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (a, b), tmp, dynamo=False, opset_version=opset, input_names=["in0", "in1"],
                output_names=["distance"],
                dynamic_axes={"in0": {0: "batch", 2: "height", 3: "width"},
                              "in1": {0: "batch", 2: "height", 3: "width"}, "distance": {0: "batch"}},
            )
        with torch.no_grad():
            _check_close(OnnxLPIPS(tmp)(a, b), metric(a, b), "the ONNX file", atol)

    return write_with(write, path)


def export_torchscript(metric: LPIPS, path: str | os.PathLike, image_size: int = 64, atol: float = 1e-5) -> Path:
    """Write ``metric`` as a traced TorchScript file (``torch.jit.load`` it without lpips_edu installed)."""
    module = ExportableLPIPS(metric).eval()
    a, b = _example(metric, image_size)

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, (a, b))
            traced.save(tmp)
            loaded = torch.jit.load(tmp)
        with torch.no_grad(), full_float32():  # on a GPU, TF32 would move the file's numbers, not the metric's
            _check_close(loaded(a, b), metric(a, b), "the TorchScript file", atol)

    return write_with(write, path)


class OnnxLPIPS:
    """An exported LPIPS file run by onnxruntime: ``OnnxLPIPS(path)(in0, in1)`` -> N distances (numpy)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError("running ONNX files needs onnxruntime: pip install 'lpips-edu[export]'") from exc
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle worker threads would otherwise spin and steal the cores from PyTorch running next to it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, in0, in1) -> np.ndarray:
        return self.session.run(["distance"], {"in0": _as_numpy(in0), "in1": _as_numpy(in1)})[0]


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)

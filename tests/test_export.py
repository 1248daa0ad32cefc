"""Exported LPIPS (ONNX run by onnxruntime, TorchScript) gives the metric's distances to 1e-5."""

from __future__ import annotations

import warnings

import pytest
import torch

from lpips_edu.analysis.metrics import make_lpips
from lpips_edu.lpips.export import ExportableLPIPS, OnnxLPIPS, export_onnx, export_torchscript

pytest.importorskip("onnxruntime")


def _pairs(batch: int, h: int, w: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    return a, (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)


@pytest.mark.parametrize("name", ["alexnet", "squeezenet1_1", "vgg16"])
def test_onnx_and_torchscript_match_pytorch(name, tmp_path):
    metric = make_lpips(name)
    onnx_path = export_onnx(metric, tmp_path / f"{name}.onnx", image_size=64)
    ts_path = export_torchscript(metric, tmp_path / f"{name}.pt", image_size=64)
    session = OnnxLPIPS(onnx_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(ts_path))
    # Another batch and a non-square size than the export example: the axes are dynamic.
    for batch, h, w in ((3, 64, 64), (1, 80, 72)):
        a, b = _pairs(batch, h, w)
        want = metric(a, b).flatten()
        assert torch.allclose(torch.from_numpy(session(a, b)), want, atol=1e-5, rtol=0)
        assert torch.allclose(scripted(a, b), want, atol=1e-5, rtol=0)


def test_exportable_module_equals_metric_without_heads():
    metric = make_lpips("squeezenet1_1")
    metric_uncalibrated = type(metric)(net="squeeze", lpips=False, backbone=metric.net)
    a, b = _pairs(2, 64, 64)
    assert torch.allclose(ExportableLPIPS(metric_uncalibrated)(a, b), metric_uncalibrated(a, b).flatten(), atol=1e-6)


def test_export_refuses_what_it_cannot_represent(tmp_path):
    spatial = make_lpips("squeezenet1_1", spatial=True)
    with pytest.raises(ValueError, match="spatial"):
        export_onnx(spatial, tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="float32"):
        ExportableLPIPS(make_lpips("squeezenet1_1", precision="bf16"))
    assert not (tmp_path / "x.onnx").exists()

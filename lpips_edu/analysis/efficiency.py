"""Efficiency options, each timed on the same LPIPS image pairs and checked against float32.

For every network: float32 with and without channels_last, bfloat16 and
float16 backbones, static int8 quantisation of the backbone, the ONNX export
run by onnxruntime, and (opt-in, slow to compile on a CPU) ``torch.compile``.
Each row has the speedup over plain float32 and the LPIPS error against it on
the same pairs. An option that fails on this machine or torch version is a
row with ``status = "unsupported: <the error>"``, not a missing row and not a
made-up number. A 16-bit option this CPU has no native arithmetic for
(``lpips_edu.hardware``) is not timed - emulated, it would only measure the
emulation, and VGG-16 in float16 would take minutes: its row has
``status = "bf16 skipped: <why>"`` and the LPIPS error of one untimed call.
Dynamic int8 of the classifier is timed on the whole classification network,
because LPIPS never runs the classifier.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.distortions import distort
from ..hardware import HALF_DTYPES, skip_reason
from ..lpips.metric import LPIPS
from ..progress import progress_bar
from .config import AnalysisConfig
from .metrics import full_model, make_lpips
from .quality import sweep_images
from .quantize import quantize_backbone_static, quantize_classifier_dynamic
from .timing import time_calls


def evaluation_pairs(config: AnalysisConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Photo crops and distorted copies (noise, blur, JPEG in turn), in [-1, 1]."""
    clean = sweep_images(config.efficiency_batch, config.image_size, config.seed + 7)
    kinds = ("gaussian_noise", "blur", "jpeg")
    distorted = torch.cat([distort(kinds[i % 3], clean[i : i + 1], 0.5, seed=i) for i in range(len(clean))])
    return clean * 2 - 1, distorted * 2 - 1


def _variants(name: str, config: AnalysisConfig, a: torch.Tensor, b: torch.Tensor) -> dict[str, Callable[[], Callable]]:
    """Option name -> a builder returning ``distance(in0, in1)``; builders may raise (then: unsupported)."""

    def lpips_with(**kwargs):
        def build():
            metric = make_lpips(name, config.seed, **kwargs)
            return lambda x, y: metric(x, y)
        return build

    def int8_static():
        metric = make_lpips(name, config.seed, channels_last=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            backbone = quantize_backbone_static(metric.net, metric.scaling_layer(torch.cat([a, b])))
        quantized = LPIPS(
            net=metric.pnet_type, backbone=backbone, heads="official" if metric.lpips else None, channels_last=False
        )
        return lambda x, y: quantized(x, y)

    def onnx():
        from ..lpips.export import OnnxLPIPS, export_onnx

        folder = tempfile.mkdtemp(prefix="lpips-edu-onnx-")
        path = export_onnx(make_lpips(name, config.seed), Path(folder) / f"{name}.onnx", config.image_size)
        session = OnnxLPIPS(path, threads=torch.get_num_threads())
        return lambda x, y: torch.from_numpy(session(x, y))

    def compiled():
        metric = make_lpips(name, config.seed)
        metric.net.forward_features = torch.compile(metric.net.forward_features)
        return lambda x, y: metric(x, y)

    variants = {
        "fp32 (contiguous)": lpips_with(channels_last=False),
        "fp32 channels_last": lpips_with(),
        "bf16": lpips_with(precision="bf16"),
        "fp16": lpips_with(precision="fp16"),
        "int8 static (backbone)": int8_static,
        "onnxruntime fp32": onnx,
    }
    if config.compile:
        variants["torch.compile"] = compiled
    return variants


def efficiency_table(config: AnalysisConfig, progress: bool = True) -> pd.DataFrame:
    """One row per (model, option): status, latency, speedup and LPIPS error versus plain float32.

    The options of one network are timed interleaved (``timing.time_calls``), so a burst of load on
    a shared machine does not land on one option only.
    """
    a, b = evaluation_pairs(config)
    rows = []
    names = config.efficiency_models or config.models
    for name in progress_bar(names, desc="efficiency", disable=not progress):
        fns, distances, failed, skipped = {}, {}, {}, {}
        for option, build in _variants(name, config, a, b).items():
            try:
                fn = build()
                with torch.inference_mode():
                    distances[option] = fn(a, b).detach().float().reshape(-1).numpy()
                # the 16-bit options are named after their dtype ("bf16", "fp16")
                why = skip_reason(option) if option in HALF_DTYPES else None
                if why:
                    skipped[option] = why
                else:
                    fns[option] = fn
            except Exception as exc:  # an option this machine / torch version cannot run
                failed[option] = f"unsupported: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"

        def timed(fn):
            def call():
                with torch.inference_mode():
                    return fn(a, b)

            return call

        timings = time_calls({k: timed(f) for k, f in fns.items()}, config.repeats, config.warmup, config.min_block_s)
        reference = next(iter(fns), None)  # the first option is plain float32
        for option in _variants_order(fns, failed, skipped):
            row = {
                "model": name,
                "option": option,
                "applies_to": "LPIPS distance",
                "batch": len(a),
                "size": a.shape[-1],
                "device": a.device.type,  # every option runs on the pairs' device (int8 and onnxruntime: CPU only)
            }
            if option in failed:
                rows.append({**row, "status": failed[option]})
                continue
            d, ref = distances[option], distances[reference]
            errors = {
                "max_abs_err": float(np.abs(d - ref).max()),
                "max_rel_err": float(np.abs(d - ref).max() / max(np.abs(ref).mean(), 1e-12)),
            }
            if option in skipped:
                rows.append({**row, "status": skipped[option], **errors})
                continue
            t, ref_t = timings[option], timings[reference]
            rows.append({**row, "status": "ok", **_timing_columns(t, ref_t), **errors})
    rows += classifier_dynamic_rows(config)
    return pd.DataFrame(rows)


def _timing_columns(t, reference) -> dict[str, float]:
    """Median and quartiles in ms of one option's timing, and its speed-up over ``reference``'s."""
    return {"median_ms": 1e3 * t.median_s, "q25_ms": 1e3 * t.q25_s, "q75_ms": 1e3 * t.q75_s,
            "speedup": reference.median_s / t.median_s}


def _variants_order(fns: dict, failed: dict, skipped: dict) -> list[str]:
    return list(fns) + list(skipped) + [k for k in failed if k not in fns]


def classifier_dynamic_rows(config: AnalysisConfig) -> list[dict]:
    """Dynamic int8 of the classifier, timed on the whole classification network at batch 1."""
    rows = []
    x = torch.rand(1, 3, config.image_size, config.image_size)
    for name in config.efficiency_models or config.models:
        row = {
            "model": name,
            "option": "int8 dynamic (classifier)",
            "applies_to": "classification forward",
            "batch": 1,
            "size": config.image_size,
            "device": x.device.type,
        }
        try:
            model = full_model(name, config.seed)
            quantized = quantize_classifier_dynamic(model)
            with torch.inference_mode():
                ref, got = model(x), quantized(x)
                times = time_calls(
                    {"fp32": partial(model, x), "int8": partial(quantized, x)},
                    config.repeats,
                    config.warmup,
                    config.min_block_s,
                )
            t_ref, t_q = times["fp32"], times["int8"]
        except Exception as exc:
            rows.append({**row, "status": f"unsupported: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"})
            continue
        err = (got - ref).abs().max().item()
        rows.append({**row, "status": "ok (LPIPS unaffected: it never runs the classifier)",
                     **_timing_columns(t_q, t_ref), "max_abs_err": err,
                     "max_rel_err": err / max(ref.abs().mean().item(), 1e-12)})
    return rows

"""The machine a measurement ran on: a timing without it is not a result.

Saved next to every table (CSV/JSON) and printed at the top of the chapters,
so a reader comparing their numbers with the book's knows what differs.
"""

from __future__ import annotations

import os
import platform

import torch


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device: torch.device | str | None = None) -> dict[str, str | int]:
    """CPU model, cores, torch threads, versions and the accelerator used."""
    device = (
        torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    info: dict[str, str | int] = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": device.type,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def machine_line(info: dict) -> str:
    """The machine in one sentence, for the top of a page."""
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ""
    return (
        f"{info['cpu']} ({info['cpu_cores']} cores, torch uses {info['torch_threads']} thread(s)){gpu}; "
        f"device={info['device']}; torch {info['torch']}"
    )

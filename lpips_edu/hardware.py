"""What this CPU does fast: the one place that decides whether a hardware-dependent path is taken.

16-bit floating point on a CPU is fast only with native instructions: bf16 needs
AVX512-BF16 or AMX, fp16 needs AVX512-FP16 or AMX-FP16. Without them PyTorch
still computes the right numbers, but by converting to float32 and back around
every operation, and a VGG-16 training step in bf16 autocast then takes many
times longer than in float32. Most laptops have neither, so every recipe and
every measurement that would use 16-bit floats on the CPU asks here first and
takes the portable float32 path where the fast one is missing.

Two environment variables override the detection, so that one machine can run
both paths (the tests do, to cover the machines CI does not run on):

* ``LPIPS_EDU_CPU_BF16=0`` forces the portable path, ``=1`` the bf16 path
  (correct everywhere, slow where emulated); unset or ``auto`` detects.
* ``LPIPS_EDU_CPU_FP16`` does the same for fp16.
"""

from __future__ import annotations

import os

CPU_BF16_ENV = "LPIPS_EDU_CPU_BF16"
CPU_FP16_ENV = "LPIPS_EDU_CPU_FP16"

_ON, _OFF = {"1", "on", "true", "yes"}, {"0", "off", "false", "no"}
# dtype name -> (override variable, cpuinfo flags that give native arithmetic, what to call them)
_KNOBS = {
    "bf16": (CPU_BF16_ENV, ("avx512_bf16", "amx_bf16"), "AVX512-BF16 or AMX"),
    "fp16": (CPU_FP16_ENV, ("avx512_fp16", "amx_fp16"), "AVX512-FP16 or AMX-FP16"),
}
HALF_DTYPES = tuple(_KNOBS)  # the dtype names whose CPU speed this module decides: "bf16", "fp16"


def cpu_flags() -> set[str]:
    """The instruction-set flags of this CPU (``/proc/cpuinfo``); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:  # not Linux: assume nothing, the portable path is always correct
        pass
    return set()


def forced(dtype: str) -> bool | None:
    """The override of the environment for ``dtype`` ("bf16" or "fp16"): True, False or None (detect)."""
    variable = _KNOBS[dtype][0]
    value = os.environ.get(variable, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"{variable}={os.environ[variable]!r} is not understood: set it to 1 (force the {dtype} path), "
                     f"0 (force the float32 path) or auto (detect), or unset it")


def cpu_has_fast(dtype: str) -> bool:
    """True where ``dtype`` arithmetic is native on this CPU, or forced on by its environment variable."""
    if dtype not in _KNOBS:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(_KNOBS)}")
    override = forced(dtype)
    if override is not None:
        return override
    return any(flag in cpu_flags() for flag in _KNOBS[dtype][1])


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX), unless ``LPIPS_EDU_CPU_BF16`` says otherwise."""
    return cpu_has_fast("bf16")


def cpu_has_fast_fp16() -> bool:
    """True on CPUs with native fp16 arithmetic (AVX512-FP16 or AMX-FP16).

    ``LPIPS_EDU_CPU_FP16`` overrides it either way.
    """
    return cpu_has_fast("fp16")


def cuda_has_native_bf16(device) -> bool:
    """True where the GPU ``device`` computes bf16 in hardware: compute capability 8.0 (Ampere) or later, or ROCm.

    ``torch.cuda.is_bf16_supported()`` also counts emulated bf16 (a T4 or V100,
    Colab's GPUs, say yes) and asks about the current device only; this is
    what its ``including_emulation=False`` checks, for the device given, on
    every torch version.
    """
    import torch

    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(device) >= (8, 0)


def skip_reason(dtype: str) -> str | None:
    """Why a CPU measurement in ``dtype`` is skipped here (one line for the page), or None when it runs."""
    if cpu_has_fast(dtype):
        return None
    variable, _, instructions = _KNOBS[dtype]
    why = (
        f"{variable}=0 forces the float32 path"
        if forced(dtype) is False
        else f"this CPU has no native {dtype} ({instructions}), so {dtype} would be emulated and slow"
    )
    return f"{dtype} skipped: {why}; {variable}=1 measures it anyway"


def describe_cpu_precisions() -> str:
    """One line for a page: which 16-bit paths this run takes on the CPU, and why."""
    parts = []
    for dtype, (variable, _, _) in _KNOBS.items():
        state = "native" if cpu_has_fast(dtype) else "not native"
        override = forced(dtype)
        if override is not None:
            state = f"{'on' if override else 'off'} ({variable}={os.environ[variable].strip()})"
        parts.append(f"{dtype} {state}")
    return "CPU 16-bit arithmetic: " + ", ".join(parts)

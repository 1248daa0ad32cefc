"""lpips_edu.hardware: detection of native 16-bit arithmetic, the overrides, and what the pages are told."""

from __future__ import annotations

import pytest
import torch

from lpips_edu import hardware
from lpips_edu.profiles import get_profile
from lpips_edu.train import amp_dtype_for

CPU = torch.device("cpu")


@pytest.fixture
def flags(monkeypatch):
    """Pretend the CPU has the given instruction-set flags, with no override in the environment."""
    monkeypatch.delenv(hardware.CPU_BF16_ENV, raising=False)
    monkeypatch.delenv(hardware.CPU_FP16_ENV, raising=False)

    def set_flags(*names):
        monkeypatch.setattr(hardware, "cpu_flags", lambda: set(names))

    return set_flags


def test_detection_reads_the_cpu_flags(flags):
    flags("avx2", "fma")
    assert not hardware.cpu_has_fast_bf16() and not hardware.cpu_has_fast_fp16()
    flags("avx2", "avx512_bf16")
    assert hardware.cpu_has_fast_bf16() and not hardware.cpu_has_fast_fp16()
    flags("amx_bf16", "amx_fp16")
    assert hardware.cpu_has_fast_bf16() and hardware.cpu_has_fast_fp16()


def test_cpu_flags_come_from_proc_cpuinfo():
    found = hardware.cpu_flags()
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        assert found == set()
        return
    assert all(flag in text for flag in found)


@pytest.mark.parametrize("value, fast", [("0", False), ("off", False), ("1", True), ("ON", True)])
def test_the_environment_forces_either_path(flags, monkeypatch, value, fast):
    flags("avx512_bf16") if not fast else flags("avx2")  # always the opposite of what the CPU has
    monkeypatch.setenv(hardware.CPU_BF16_ENV, value)
    assert hardware.cpu_has_fast_bf16() is fast


def test_auto_or_empty_means_detect(flags, monkeypatch):
    flags("avx512_bf16")
    for value in ("auto", "", " "):
        monkeypatch.setenv(hardware.CPU_BF16_ENV, value)
        assert hardware.cpu_has_fast_bf16()


def test_a_bad_value_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(hardware.CPU_BF16_ENV, "maybe")
    with pytest.raises(ValueError, match=r"LPIPS_EDU_CPU_BF16='maybe'.*1 .*0 .*auto"):
        hardware.cpu_has_fast_bf16()
    with pytest.raises(ValueError, match="unknown dtype"):
        hardware.cpu_has_fast("int4")


def test_skip_reason_says_why_and_how_to_measure_anyway(flags, monkeypatch):
    flags("avx2")
    why = hardware.skip_reason("bf16")
    assert why.startswith("bf16 skipped: this CPU has no native bf16") and "LPIPS_EDU_CPU_BF16=1" in why
    monkeypatch.setenv(hardware.CPU_BF16_ENV, "0")
    flags("avx512_bf16")
    assert "LPIPS_EDU_CPU_BF16=0 forces the float32 path" in hardware.skip_reason("bf16")
    monkeypatch.setenv(hardware.CPU_BF16_ENV, "1")
    assert hardware.skip_reason("bf16") is None
    assert "bf16 on (LPIPS_EDU_CPU_BF16=1)" in hardware.describe_cpu_precisions()


def test_training_autocast_follows_the_switch(flags, monkeypatch):
    """The cpu profile trains in bf16 only where the CPU has it; the switch decides on any machine."""
    cpu = get_profile("cpu")
    assert cpu.cpu_bf16
    flags("avx512_bf16")
    assert amp_dtype_for("auto", CPU, cpu) == torch.bfloat16
    monkeypatch.setenv(hardware.CPU_BF16_ENV, "0")
    assert amp_dtype_for("auto", CPU, cpu) is None
    flags("avx2")
    monkeypatch.setenv(hardware.CPU_BF16_ENV, "1")
    assert amp_dtype_for("auto", CPU, cpu) == torch.bfloat16
    monkeypatch.delenv(hardware.CPU_BF16_ENV)
    assert amp_dtype_for("auto", CPU, cpu) is None
    assert amp_dtype_for("bf16", CPU, cpu) == torch.bfloat16  # asked for explicitly: no second-guessing

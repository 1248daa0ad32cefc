"""Profiles, device choice and seeding."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lpips_edu import profiles


def test_environment_variable_overrides_auto(monkeypatch):
    monkeypatch.setenv(profiles.PROFILE_ENV, "gpu")
    assert profiles.get_profile("auto").name == "gpu"
    assert profiles.get_profile(None).name == "gpu"
    # An explicit name wins over the environment.
    assert profiles.get_profile("smoke").name == "smoke"


def test_auto_without_override_follows_the_hardware(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profiles.get_profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profiles.get_profile().name == "gpu"


def test_unknown_profile_lists_the_choices(monkeypatch):
    monkeypatch.setenv(profiles.PROFILE_ENV, "laptop")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        profiles.get_profile()


def test_profiles_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = (profiles.PROFILES[n] for n in ("smoke", "cpu", "gpu"))
    for field in ("epochs", "images_per_class", "lpips_pairs", "benchmark_repeats"):
        assert getattr(smoke, field) < getattr(cpu, field) < getattr(gpu, field), field
    assert gpu.image_size == 224 and gpu.amp


def test_profile_replace_returns_a_modified_copy():
    cpu = profiles.PROFILES["cpu"]
    short = cpu.replace(epochs=1)
    assert short.epochs == 1 and cpu.epochs != 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu.epochs = 3


def test_pick_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profiles.pick_device().type in {"cpu", "mps"}
    assert profiles.pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="cuda"):
        profiles.pick_device("cuda")


def test_seed_everything_makes_cpu_runs_repeatable():
    profiles.seed_everything(7)
    a = torch.randn(5), torch.randint(0, 100, (3,))
    g = profiles.seed_everything(7)
    b = torch.randn(5), torch.randint(0, 100, (3,))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(torch.randn(2, generator=g), torch.randn(2, generator=profiles.seed_everything(7)))


def test_seeding_leaves_cudnn_as_the_caller_set_it_unless_asked_for_determinism(monkeypatch):
    """Process-wide deterministic cuDNN slows every GPU run and timing: only an explicit choice sets it."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    profiles.seed_everything(1)
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    from lpips_edu.chapters.start import start

    start("gpu")
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    profiles.seed_everything(1, deterministic=True)
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic


def test_seeded_blocks_repeat_and_leave_the_callers_random_numbers_alone():
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    with profiles.seeded(11):
        first = torch.nn.Linear(4, 4).weight.detach().clone()
    assert torch.equal(torch.rand(3), expected_next)  # as if the block had not run
    with profiles.seeded(11):
        assert torch.equal(torch.nn.Linear(4, 4).weight, first)
    with profiles.seeded(12):
        assert not torch.equal(torch.nn.Linear(4, 4).weight, first)


def test_describe_names_profile_and_device():
    line = profiles.describe(profiles.PROFILES["smoke"], torch.device("cpu"))
    assert "profile=smoke" in line and "device=cpu" in line


def test_a_notebook_starts_with_one_call_that_says_its_profile(capsys):
    import matplotlib.pyplot as plt

    from lpips_edu.chapters.start import start

    chosen = start("smoke", seed=3)
    assert chosen is profiles.PROFILES["smoke"] and "profile=smoke" in capsys.readouterr().out
    first = torch.randn(3)
    profiles.seed_everything(3)
    assert torch.equal(first, torch.randn(3))  # seeded
    assert plt.rcParams["figure.facecolor"] == "white"  # the book's figure style

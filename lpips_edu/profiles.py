"""Run sizes ("profiles"), device choice and seeding.

One switch decides how big every run in the book is:

* ``smoke``: seconds per notebook; proves the code path runs (used by the tests).
* ``cpu``: minutes per chapter on a 2-core laptop; the published book uses it.
* ``gpu``: full-size runs for readers with a CUDA GPU.
* ``auto``: ``gpu`` when CUDA is available, else ``cpu``.

The environment variable ``LPIPS_EDU_PROFILE`` overrides ``auto``, so the
tests can run every notebook quickly without editing it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

PROFILE_ENV = "LPIPS_EDU_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The sizes of every run in the book for one profile."""

    name: str
    image_size: int  # side of the square training and evaluation images
    batch_size: int
    epochs: int
    images_per_class: int  # training images per class in the offline dataset
    val_images_per_class: int
    num_workers: int  # DataLoader worker processes
    lpips_pairs: int  # image pairs in LPIPS evaluations (2AFC, distortion sweeps)
    benchmark_repeats: int  # timing repetitions in measurements (medians are reported)
    amp: bool  # mixed precision on CUDA
    cpu_bf16: bool  # train with bf16 autocast on CPUs that have native bf16 instructions (AVX512-BF16/AMX)
    channels_last: bool  # NHWC memory layout (faster convolutions on recent CPUs and GPUs)

    def replace(self, **changes) -> "Profile":
        """A copy with some sizes changed, e.g. ``profile.replace(epochs=2)``."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", image_size=64, batch_size=16, epochs=1, images_per_class=8,
        val_images_per_class=4, num_workers=0, lpips_pairs=16, benchmark_repeats=2,
        amp=False, cpu_bf16=False, channels_last=False,
    ),
    "cpu": Profile(
        name="cpu", image_size=64, batch_size=64, epochs=12, images_per_class=240,
        val_images_per_class=60, num_workers=0, lpips_pairs=256, benchmark_repeats=10,
        amp=False, cpu_bf16=True, channels_last=True,
    ),
    "gpu": Profile(
        name="gpu", image_size=224, batch_size=256, epochs=90, images_per_class=1300,
        val_images_per_class=50, num_workers=8, lpips_pairs=4096, benchmark_repeats=50,
        amp=True, cpu_bf16=False, channels_last=True,
    ),
}


def resolve_profile_name(name: str | None = "auto") -> str:
    """``auto`` (or None) -> the ``LPIPS_EDU_PROFILE`` variable if set, else gpu/cpu by hardware."""
    if name in (None, "auto"):
        name = os.environ.get(PROFILE_ENV, "").strip() or ("gpu" if torch.cuda.is_available() else "cpu")
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r} (from {PROFILE_ENV} or the argument); "
            f"choose one of {', '.join(PROFILES)} or 'auto'"
        )
    return name


def get_profile(name: str | None = "auto") -> Profile:
    """The run sizes for a profile name; see the module docstring."""
    return PROFILES[resolve_profile_name(name)]


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU; or the device asked for."""
    if preferred:
        device = torch.device(preferred)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but torch.cuda.is_available() is False")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; with ``deterministic=True`` also pick deterministic cuDNN kernels.

    Determinism is the caller's choice, off by default (the Trainer and the
    chapters, the gpu profile's runs included, leave cuDNN as it is): the
    cuDNN switches hold for the whole process, make every convolution and
    timing slower, and still do not make a GPU run bit-exact (atomic adds in
    some backward kernels). Call ``seed_everything(seed, deterministic=True)``
    before building a Trainer for the most repeatable GPU run; CPU runs are
    repeatable either way.

    Returns a ``torch.Generator`` seeded the same way, for DataLoader shuffling.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (building a model, initialising heads) from ``seed``, then give the caller's RNG back.

    What the block draws is the same on every run, and the random numbers the
    caller draws afterwards are the ones it would have drawn without the block.
    Only the CPU generator is forked: weights are initialised on the CPU.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def describe(profile: Profile, device: torch.device | None = None) -> str:
    """One line for the top of a notebook: which profile and device this run uses.

    The run sizes are the page's own business (a training chapter's recipe sets its epochs
    and batch), so the line does not print the profile's defaults as if they were the page's.
    """
    device = device or pick_device()
    threads = torch.get_num_threads()
    return f"profile={profile.name}; device={device.type}; torch {torch.__version__}, {threads} CPU thread(s)"

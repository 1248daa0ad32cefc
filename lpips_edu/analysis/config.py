"""How big the comparison is, derived from the book's run profile (smoke / cpu / gpu).

The analysis does not add fields to ``Profile``: every size here follows from
``benchmark_repeats``, ``lpips_pairs`` and ``image_size``, plus the profile's
name for the grids (a 2-core laptop cannot time VGG-16 at batch 64 x 224 px
in a chapter's budget, a GPU can).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..profiles import Profile

DEFAULT_MODELS = ("alexnet", "vgg16", "squeezenet1_1")


@dataclass(frozen=True)
class AnalysisConfig:
    """Every size of one analysis run; ``AnalysisConfig.from_profile(P)`` picks them for a profile."""

    models: tuple[str, ...] = DEFAULT_MODELS
    flop_sizes: tuple[int, ...] = (64, 224)  # FLOPs per image at these square sizes
    image_size: int = 64  # images of the LPIPS behaviour and efficiency measurements
    batch_sizes: tuple[int, ...] = (1, 8, 32)  # speed versus batch (at image_size)
    resolutions: tuple[int, ...] = (64, 128, 224)  # speed versus resolution (at batch 1)
    memory_sizes: tuple[int, ...] = (64, 128, 224)  # activation memory versus resolution (batch 1)
    repeats: int = 10  # timed measurements per point (median and spread reported)
    warmup: int = 2  # untimed calls before timing
    min_block_s: float = 0.02  # each timed measurement repeats the call until it lasts this long
    sweep_images: int = 8  # images per distortion strength in the sensitivity sweep
    strengths: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    two_afc_triplets: int = 256  # triplets of the offline 2AFC proxy
    efficiency_batch: int = 8  # pairs per call when comparing precisions / quantisation
    efficiency_models: tuple[str, ...] | None = None  # None: all of `models`
    compile: bool = False  # torch.compile takes minutes on a CPU: opt-in
    seed: int = 0

    def replace(self, **changes) -> "AnalysisConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_profile(cls, profile: Profile, models: tuple[str, ...] = DEFAULT_MODELS) -> "AnalysisConfig":
        """Sizes for a run profile: smoke proves the code path, cpu fits minutes on 2 cores."""
        if profile.name == "smoke":
            return cls(models=models, image_size=profile.image_size, batch_sizes=(1,), resolutions=(64,),
                       memory_sizes=(64, 96, 128), repeats=max(2, profile.benchmark_repeats), warmup=1,
                       min_block_s=0.0, sweep_images=2, strengths=(0.0, 1.0),
                       two_afc_triplets=max(20, profile.lpips_pairs), efficiency_batch=2,
                       efficiency_models=models[-1:])
        if profile.name == "cpu":
            # Sized for the book build: both comparison chapters in a few minutes on 2 cores.
            return cls(models=models, image_size=profile.image_size, batch_sizes=(1, 4, 16),
                       resolutions=(64, 128, 224), memory_sizes=(64, 96, 128, 192, 256),
                       repeats=3, warmup=1, min_block_s=0.02, sweep_images=6,
                       strengths=(0.0, 0.25, 0.5, 0.75, 1.0), two_afc_triplets=max(64, profile.lpips_pairs // 2),
                       efficiency_batch=8, efficiency_models=tuple(m for m in models if m != "vgg16") or models)
        return cls(models=models, image_size=profile.image_size, batch_sizes=(1, 16, 64, 256),
                   resolutions=(64, 224, 512), memory_sizes=(64, 128, 224, 384, 512),
                   repeats=profile.benchmark_repeats, warmup=5, min_block_s=0.05, sweep_images=32,
                   strengths=tuple(i / 10 for i in range(11)), two_afc_triplets=profile.lpips_pairs,
                   efficiency_batch=32, compile=True)

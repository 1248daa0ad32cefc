"""The fixed set of 2AFC triplets that a reader of the book judges ("Be the observer").

BAPPS asks people to compare *different* distortions, and that is where pixel
metrics and people part ways. Each triplet here does the same with the shipped
photographs and ``lpips_edu.data.distortions``: a 64 x 64 crop (the size BAPPS
patches are scored at), one candidate with distortion A (blur, a shift, a colour
cast, ...) and one with distortion B (noise, JPEG, contrast, ...), B's strength
set so that its pixel error is ``ratio`` times A's. With ``ratio`` drawn around 1,
L2 is close to a coin toss by construction, and what decides a reader's answer
is *what kind* of change they see, which is what the experiment measures.

The set is described by a recipe: per triplet the photo, the two distortions,
A's strength, the ratio and a seed (drawn once from ``random.Random(SEED)``,
rounded, so the recipe itself is plain data). Its version is a hash of that
recipe, so a judgement file names the set it was made on, and the set can be
rebuilt from the package alone (``observer_set()``), without the built book.
The images are rounded to 8 bits before any metric sees them: the PNG files the
page shows are then exactly what the metrics measured.

Changing how the images are made (a distortion, the crop) changes what people
were shown: bump ``REVISION`` then, and the version changes with it.
"""

from __future__ import annotations

import hashlib
import json
import random
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..calibrate.benchmark import BenchmarkConfig, pixel_mse, random_crop, strength_for_mse
from ..calibrate.datasets import TwoAFCTensors
from ..data import load_sample, sample_names, to_tensor
from ..data.distortions import distort

SET_NAME = "be-the-observer"
REVISION = 1  # bump when the construction below changes what the images look like
SEED = 14
N_TRIPLETS = 40
IMAGE_SIZE = 64
CROP = BenchmarkConfig(image_size=IMAGE_SIZE, min_crop_fraction=0.15, max_crop_fraction=0.3)
RATIO_RANGE = (0.6, 1.6)  # B's pixel error over A's
# (distortion A, the strength range drawn for A, distortion B): kinds that people and metrics
# weigh differently, each pair used for every fifth triplet.
PAIRINGS = (
    ("blur", (0.2, 0.4), "gaussian_noise"),
    ("shift", (0.25, 0.5), "jpeg"),
    ("color_shift", (0.3, 0.6), "contrast"),
    ("warp", (0.3, 0.6), "blur"),
    ("jpeg", (0.6, 0.85), "gaussian_noise"),
    ("shift", (0.25, 0.5), "gaussian_noise"),
    ("brightness", (0.2, 0.4), "contrast"),
    ("quantize", (0.5, 0.7), "blur"),
)


def recipe(n: int = N_TRIPLETS, seed: int = SEED) -> list[dict]:
    """What each triplet is made of: plain numbers from a seeded ``random.Random``."""
    rng = random.Random(seed)
    photos = sample_names()
    out = []
    for i in range(n):
        kind_a, (lo, hi), kind_b = PAIRINGS[i % len(PAIRINGS)]
        out.append({
            "id": f"t{i:02d}",
            "photo": photos[(i + i // len(PAIRINGS)) % len(photos)],  # each pairing meets several photos
            "a": kind_a, "strength_a": round(rng.uniform(lo, hi), 3),
            "b": kind_b, "ratio": round(rng.uniform(*RATIO_RANGE), 3),
            "a_is_p1": rng.random() < 0.5,
            "seed": rng.randrange(2**31 - 1),
        })
    return out


def set_version(triplets: list[dict]) -> str:
    """The first 12 hex digits of the SHA-256 of the recipe (with the set's name, revision and size)."""
    text = json.dumps({"set": SET_NAME, "revision": REVISION, "image_size": IMAGE_SIZE, "triplets": triplets},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _eight_bit(x: torch.Tensor) -> torch.Tensor:
    """Rounded to the 256 levels a PNG stores, so the metrics see the pixels the reader sees."""
    return torch.round(x.clamp(0, 1) * 255) / 255


@dataclass(frozen=True)
class ObserverSet:
    """The triplets, their recipe and version; images N x 3 x 64 x 64 in [0, 1], 8-bit exact."""

    version: str
    triplets: tuple[dict, ...]  # the recipe, plus B's strength and the pixel-error ratio B/A it got
    ref: torch.Tensor
    p0: torch.Tensor
    p1: torch.Tensor

    @property
    def ids(self) -> list[str]:
        return [t["id"] for t in self.triplets]

    def candidates(self, t: dict) -> tuple[str, str]:
        """``(what p0 is, what p1 is)``, e.g. ``("blur 0.31", "gaussian_noise 0.42")``."""
        a, b = f"{t['a']} {t['strength_a']:.2f}", f"{t['b']} {t['strength_b']:.2f}"
        return (b, a) if t["a_is_p1"] else (a, b)

    def as_2afc(self, judge: torch.Tensor, keep: list[int] | None = None) -> TwoAFCTensors:
        """The triplets (all, or the indices ``keep``) as a 2AFC dataset with judgements ``judge``."""
        keep = list(range(len(self.triplets))) if keep is None else keep
        meta = [{"id": self.triplets[i]["id"], "distortion": f"{self.triplets[i]['a']} vs {self.triplets[i]['b']}",
                 "image": self.triplets[i]["photo"]} for i in keep]
        return TwoAFCTensors(self.ref[keep], self.p0[keep], self.p1[keep], judge, meta)


@contextmanager
def _one_thread():
    """Run on one intra-op thread, then restore the setting.

    Building the set is hundreds of tiny operations on 64-pixel patches (the
    strength searches): a second thread saves nothing on such sizes and pays a
    hand-off per operation, which on a busy two-core machine made the set five
    times slower to build (measured 28 s against 5 s).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def build_set(triplets: list[dict]) -> ObserverSet:
    """The images of a recipe: crop, distortion A, distortion B at ``ratio`` times A's pixel error."""
    with _one_thread():
        return _build_set(triplets)


def _build_set(triplets: list[dict]) -> ObserverSet:
    photos = {name: to_tensor(load_sample(name)) for name in sorted({t["photo"] for t in triplets})}
    refs, p0s, p1s, done = [], [], [], []
    for t in triplets:
        g = torch.Generator().manual_seed(t["seed"])
        ref = _eight_bit(random_crop(photos[t["photo"]], IMAGE_SIZE, CROP, g))
        seed_a, seed_b = torch.randint(0, 2**31 - 1, (2,), generator=g).tolist()
        a = _eight_bit(distort(t["a"], ref, t["strength_a"], seed_a))
        strength_b = strength_for_mse(t["b"], ref, t["ratio"] * pixel_mse(a, ref), seed_b)
        b = _eight_bit(distort(t["b"], ref, strength_b, seed_b))
        p0, p1 = (b, a) if t["a_is_p1"] else (a, b)
        refs.append(ref)
        p0s.append(p0)
        p1s.append(p1)
        # B stays at full strength where it cannot reach the target (JPEG against a 2-pixel shift):
        # the ratio it really has is recorded, and it is what L2 sees.
        done.append({**t, "strength_b": round(strength_b, 4), "pixel_ratio": pixel_mse(b, ref) / pixel_mse(a, ref)})
    return ObserverSet(set_version(triplets), tuple(done), torch.cat(refs), torch.cat(p0s), torch.cat(p1s))


@lru_cache(maxsize=1)
def observer_set() -> ObserverSet:
    """The book's set (``N_TRIPLETS`` triplets from ``SEED``), built once per process."""
    return build_set(recipe())

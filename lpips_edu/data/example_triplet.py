"""The LPIPS repository's example triplet, and the distances published for it.

Three 64 x 64 patches (``ex_ref.png``, ``ex_p0.png``, ``ex_p1.png``, BSD-2-Clause,
see ``example_triplet/LICENSE.txt``). The repository's ``test_network.py`` (alex,
v0.1, official heads, torchvision's ImageNet AlexNet, ``spatial=True``, mean of
the map) prints (0.722, 0.138) for (ref, p0) and (ref, p1): a check that only
the real ImageNet weights pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE_DIR = Path(__file__).with_name("example_triplet")
EXAMPLE_FILES = {"ref": "ex_ref.png", "p0": "ex_p0.png", "p1": "ex_p1.png"}
PUBLISHED_ALEX_SPATIAL_DISTANCES = (0.722, 0.138)  # (ref, p0), (ref, p1); three decimals


def example_path(name: str) -> Path:
    """The file of ``name`` ("ref", "p0" or "p1")."""
    if name not in EXAMPLE_FILES:
        raise ValueError(f"unknown example image {name!r}; choose one of {list(EXAMPLE_FILES)}")
    return EXAMPLE_DIR / EXAMPLE_FILES[name]


def load_example_triplet() -> dict[str, np.ndarray]:
    """The three patches as H x W x 3 uint8 arrays, keyed "ref", "p0", "p1"."""
    return {name: np.asarray(Image.open(example_path(name)).convert("RGB")) for name in EXAMPLE_FILES}

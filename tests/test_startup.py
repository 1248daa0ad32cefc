"""Start-up cost of the package and the command line, guarded by what gets imported (not by a clock).

``compare A B`` must start in about the time of ``import torch``: what is
imported beyond torch is checked with ``python -X importtime``, which lists
every module a process loaded. The heavy libraries a command-line run never
needs (torchvision's model zoo, the plotting and data-science stacks, the
``lpips`` package itself) must not be among them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
NEVER_AT_START = ("torchvision", "lpips", "pandas", "matplotlib", "scipy", "sklearn", "skimage", "IPython",
                  "ipywidgets", "torchmetrics", "torch._dynamo", "torch._inductor")


def imported_modules(*args: str) -> tuple[set[str], str]:
    """The modules a ``python -X importtime ARGS`` process imported, and its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=REPO, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return modules, result.stdout


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in NEVER_AT_START))


def test_importing_the_package_and_cli_stays_light():
    modules, _ = imported_modules("-c", "import lpips_edu, lpips_edu.cli.compare_command, lpips_edu.__main__")
    assert "torch" in modules  # the listing works
    assert heavy(modules) == []


@pytest.mark.parametrize("backbone, metric", [("imagenet", "lpips"), ("random", "lpips"), ("random", "dists")])
def test_comparing_two_files_imports_nothing_heavy(backbone, metric, tmp_path):
    """The whole one-pair run: the cached weights, the heads in the lpips wheel (DISTS: torchmetrics'), decoding."""
    from lpips_edu.models import WeightsNotAvailableError, get_spec, load_imagenet_features

    if backbone == "imagenet":
        try:
            load_imagenet_features(get_spec("alexnet"))
        except WeightsNotAvailableError:
            pytest.skip("ImageNet features not fetched (python -m lpips_edu weights fetch)")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    extra = (["--random-backbone"] if backbone == "random" else []) + ["--metric", metric]
    modules, out = imported_modules("-m", "lpips_edu", "compare", *extra, str(tmp_path / "a.png"),
                                    str(tmp_path / "b.png"))
    assert 0 < float(out) < 2
    assert heavy(modules) == []

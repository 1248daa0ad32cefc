"""Where the book keeps what it produces: trained checkpoints and real datasets.

Both locations can be moved with an environment variable, so a reader can keep
large files on another disk and the LPIPS chapters can find the backbones the
training chapters saved:

* ``LPIPS_EDU_RUNS`` (default ``<repo>/runs``): one folder per training run.
* ``LPIPS_EDU_DATA`` (default ``<repo>/datasets``): ImageNet, Imagenette, CIFAR-10 ...
* ``LPIPS_EDU_CACHE`` (default ``~/.cache/lpips_edu``): weights fetched once per machine
  (the converted ImageNet features, ``lpips_edu.models.imagenet_features``).
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "LPIPS_EDU_RUNS"
DATA_ENV = "LPIPS_EDU_DATA"
CACHE_ENV = "LPIPS_EDU_CACHE"


def repo_root() -> Path:
    """The checkout that holds the package (falls back to the working directory for wheel installs)."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def shown(path: str | os.PathLike) -> str:
    """A path as a page or a message shows it: relative to the checkout inside it, ``~/...`` under home.

    A published page must not carry the build machine's folders.
    """
    path = Path(path).resolve()
    for base, prefix in ((repo_root().resolve(), ""), (Path.home().resolve(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def runs_dir() -> Path:
    """Folder holding one sub-folder per training run."""
    return Path(os.environ.get(RUNS_ENV, "").strip() or repo_root() / "runs")


def data_dir() -> Path:
    """Folder where real datasets are looked for (and downloaded to, when asked)."""
    return Path(os.environ.get(DATA_ENV, "").strip() or repo_root() / "datasets")


def cache_dir() -> Path:
    """Folder of fetched weights, shared by every checkout on the machine."""
    return Path(os.environ.get(CACHE_ENV, "").strip() or Path.home() / ".cache" / "lpips_edu").expanduser()


def run_dir(name: str) -> Path:
    """The folder of the run called ``name`` (usually the model name)."""
    return runs_dir() / name


def trained_checkpoint(name: str) -> Path:
    """The checkpoint the book's training chapter saved for ``name`` (may not exist yet).

    ``lpips_edu.models.build(name, num_classes=..., weights=trained_checkpoint(name))`` loads it.
    """
    return run_dir(name) / "checkpoint.pt"

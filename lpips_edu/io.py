"""Files: written atomically, tensor files read safely, state dicts checked strictly.

Every file the package writes (checkpoints, heads, histories, CSV tables,
notebooks, ONNX exports, converted weights) goes through ``atomic_path``: the
data is written to a temporary file in the same folder, flushed to disk, and
renamed over the target. A crash, a full disk or Ctrl-C leaves either the old
file or the new one, never half of one, and no temporary file behind.

Every tensor file is read with ``torch.load(..., weights_only=True)``, which
refuses pickled code, and every failure becomes an error that names the file
and says what to do. State dicts are compared with what a module expects
before anything is copied, so a wrong file is an error listing the missing,
unexpected and wrongly shaped entries, never silently half-loaded weights.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch

# ----------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path next to ``path``; renamed onto ``path`` if the block ends without an error.

    For writers that want a file name (``torch.onnx.export``, ``DataFrame.to_csv``).
    The temporary file is created with the usual permissions (0666 less the
    umask), so the result is readable like any other file the user writes. On
    an error, or an interrupt, it is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` whose content replaces ``path`` only once the block has finished.

    ``mode`` is "w" (text; ``encoding`` defaults to UTF-8) or "wb".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode must be 'w' or 'wb', not {mode!r}")
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a text file (UTF-8, newlines as given) atomically."""
    with atomic_open(path, "w", newline="") as f:
        f.write(text)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write a binary file atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def save_torch_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically: an interrupted save never leaves a truncated checkpoint."""
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def write_with(writer: Callable[[Path], object], path: str | os.PathLike) -> Path:
    """Call ``writer(temporary_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _fsync(path: Path) -> None:
    """Push the file's data to the disk before the rename makes it visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- reading


def read_torch_file(path: str | os.PathLike, what: str, missing_hint: str, unreadable_hint: str = "",
                    mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that say what the file was for.

    ``what`` names the file in messages ("checkpoint", "LPIPS linear weights");
    ``missing_hint`` says how to get one; ``unreadable_hint`` what to do with a
    file that exists but cannot be read (truncated, pickled code, not a torch file).

    ``mmap=True`` maps the file instead of reading it: only the tensors the caller
    touches are read from the disk. For a caller that copies a part of the file
    (a model's weights out of a Trainer checkpoint, whose AdamW state is twice as
    large) and drops the rest. Files in torch's old, pre-zip format are read whole.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; {missing_hint}")
    if mmap:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # the old format cannot be mapped; a broken file gets its message below
            pass
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, pickle with code objects, not a torch file
        raise ValueError(
            f"could not read {what} {path}: it is truncated or corrupt, or holds Python objects that "
            f"weights_only=True refuses ({type(exc).__name__}: {str(exc)[:200]})."
            + (f" {unreadable_hint}" if unreadable_hint else "")
        ) from exc


def tensor_dict(obj: Any, source: str, wrapper_keys: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``obj`` as a dict of tensors (unwrapping ``obj[key]`` for the first of ``wrapper_keys`` present).

    Checkpoints wrap their state dict (``{"model": ...}``, ``{"heads": ...}``);
    prefixes that ``DistributedDataParallel`` (``module.``) and ``torch.compile``
    (``_orig_mod.``) add to every key are removed.
    """
    for key in wrapper_keys:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{source} does not hold a state dict (a dict of tensors)")
    for prefix in ("module.", "_orig_mod."):
        if obj and all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------- checking


def state_dict_mismatch(expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading strictly into a module with ``expected`` shapes ("" if nothing)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k}: {tuple(v.shape)} vs {tuple(expected[k])}" for k, v in state.items()
                   if k in expected and tuple(v.shape) != tuple(expected[k])]
    if not (missing or unexpected or wrong_shape):
        return ""
    parts = [f"{label} {items[:5]}" + (f" and {len(items) - 5} more" if len(items) > 5 else "")
             for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
             if items]
    return ", ".join(parts)


def check_state_dict(expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor],
                     source: str, target: str, hint: str) -> None:
    """Raise ``ValueError`` naming every mismatch between ``state`` (from ``source``) and ``target``."""
    mismatch = state_dict_mismatch(expected, state)
    if mismatch:
        raise ValueError(f"weights from {source} do not fit {target}: {mismatch}. {hint}")


def shapes_of(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The state dict's shapes of a module: what ``check_state_dict`` compares against."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}

"""LPIPS over many image pairs: decoded on a thread pool, batched by size, yielded in input order.

The backbone is fastest on batches, and a batch needs images of one size;
decoding files is work the network's threads do not do. So
``pair_distances`` streams:

1. a thread pool decodes the pairs (PIL and numpy release the GIL, so its
   threads run in parallel): a little ahead of the network when it runs on a
   GPU, and in turns with it on a CPU, whose cores the convolutions already fill;
2. decoded pairs wait in one bucket per image size; a full bucket is one batch;
3. results are yielded in the order the pairs came in, as soon as every
   earlier pair is done. At most ``max_waiting`` decoded pairs wait for a
   batch, so memory stays bounded on folders of mixed sizes (the oldest
   waiting bucket then runs as a smaller batch).

A pair that cannot be compared (a bad file, a missing counterpart, images of
different sizes without ``resize=True``, too small for the backbone) raises its
``BadImageError`` when its turn comes, or with ``errors="skip"`` is yielded
with the reason, and the stream goes on.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.image_files import IMAGE_SUFFIXES, BadImageError, read_image
from ..input_checks import check_images
from ..progress import progress_bar

ImageLike = str | os.PathLike | torch.Tensor


@dataclass(frozen=True)
class PairResult:
    """One pair's outcome: ``distance``, or ``error`` saying why the pair was skipped."""

    index: int  # position in the input
    image0: ImageLike
    image1: ImageLike
    distance: float | None
    error: str | None = None


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files in a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pairs_from_dirs(dir0: str | os.PathLike, dir1: str | os.PathLike,
                    allow_missing: bool = False) -> list[tuple[Path, Path]]:
    """Pairs of files with the same name in two folders, in name order.

    Every image of ``dir0`` needs its counterpart in ``dir1``; with
    ``allow_missing=True`` a pair without one is kept, to be reported as a bad
    pair in its place instead of stopping the whole run here.
    """
    files0 = image_files(dir0)
    if not files0:
        raise ValueError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {dir0}")
    if not Path(dir1).is_dir():
        raise NotADirectoryError(f"{dir1} is not a folder")
    missing = [p.name for p in files0 if not (Path(dir1) / p.name).is_file()]
    if missing and not allow_missing:
        raise ValueError(f"{len(missing)} file(s) of {dir0} have no counterpart in {dir1}: {missing[:5]}")
    return [(p, Path(dir1) / p.name) for p in files0]


def all_pairs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Every unordered pair of distinct images in a folder (i < j, by name)."""
    files = image_files(folder)
    if len(files) < 2:
        raise ValueError(f"{folder} needs at least two images to compare, found {len(files)}")
    return list(itertools.combinations(files, 2))


@dataclass
class _Decoded:
    index: int
    pair: tuple[ImageLike, ImageLike]
    images: tuple[torch.Tensor, torch.Tensor] | None
    normalize: bool
    error: str | None


class _PairReader:
    """Turns one input pair into two equal-size image tensors, or the reason it cannot."""

    def __init__(self, metric, normalize: bool, resize: bool) -> None:
        self.normalize, self.resize = normalize, resize
        self.min_size = int(getattr(metric, "min_input_size", 1))
        self.backbone = type(getattr(metric, "net", metric)).__name__

    def __call__(self, index: int, pair) -> _Decoded:
        try:
            a, b = pair
        except (TypeError, ValueError):
            raise TypeError(f"pair {index} must be two images (paths or tensors), got {pair!r}") from None
        norm = self.normalize if isinstance(a, torch.Tensor) else False  # files are read into [-1, 1]
        try:
            in0, in1 = self._image(a, index, 0, norm), self._image(b, index, 1, norm)
            if in0.shape[1:] != in1.shape[1:]:
                if not self.resize:
                    raise BadImageError(
                        f"{self._names(index, a, b)} differ in size ({_size(in0)} and {_size(in1)}); pass "
                        "resize=True (--resize) to resize the second image to the first's size")
                in1 = _resize_like(in1, in0, norm)
        except BadImageError as exc:
            return _Decoded(index, pair, None, norm, str(exc))
        return _Decoded(index, pair, (in0, in1), norm, None)

    def _image(self, item: ImageLike, index: int, position: int, norm: bool) -> torch.Tensor:
        if isinstance(item, torch.Tensor):
            image, label = (item if item.dim() == 4 else item.unsqueeze(0)), f"image {position} of pair {index}"
            # a wrong tensor is the caller's bug: an error, not a skipped pair
            check_images(image, label, norm, self.min_size, f"the {self.backbone} backbone")
            return image
        image = read_image(item)
        h, w = image.shape[-2:]
        if h < self.min_size or w < self.min_size:
            raise BadImageError(f"{item}: {h}x{w} pixels is too small for the {self.backbone} backbone, whose "
                                f"minimum is {self.min_size}x{self.min_size}; resize or pad the image")
        return image

    @staticmethod
    def _names(index: int, a: ImageLike, b: ImageLike) -> str:
        if isinstance(a, torch.Tensor):
            return f"the images of pair {index}"
        return f"the images of pair {index} ({a}, {b})"


def _size(image: torch.Tensor) -> str:
    return f"{image.shape[-2]}x{image.shape[-1]}"


def _resize_like(image: torch.Tensor, target: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Bicubic with antialiasing (as PIL resizes), clamped back into the value range."""
    resized = F.interpolate(image, size=tuple(target.shape[-2:]), mode="bicubic", align_corners=False,
                            antialias=True)
    return resized.clamp(0.0 if normalize else -1.0, 1.0)


def _decoded_ahead(pairs: Iterable, read: _PairReader, workers: int, lookahead: int) -> Iterator[_Decoded]:
    """``read`` every pair on a thread pool, at most ``lookahead`` ahead; results in input order.

    For a network on a GPU: the decoding overlaps the GPU's work.
    """
    if workers <= 0:
        yield from (read(i, pair) for i, pair in enumerate(pairs))
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="lpips-decode")
    window: deque = deque()
    try:
        for i, pair in enumerate(pairs):
            window.append(pool.submit(read, i, pair))
            if len(window) >= lookahead:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _decoded_in_bursts(pairs: Iterable, read: _PairReader, workers: int, burst: int) -> Iterator[_Decoded]:
    """``read`` ``burst`` pairs at a time on every thread, and hand them over only when all are decoded.

    For a network on the CPU: its convolutions already keep every core busy,
    and a decoding thread that takes a core from one of its OpenMP threads
    stalls all of them at the next barrier. So the two take turns: the pool
    decodes a burst (a batch) in parallel while the network waits, then the
    network runs alone.
    """
    if workers <= 0:
        yield from (read(i, pair) for i, pair in enumerate(pairs))
        return
    numbered = enumerate(pairs)
    with ThreadPoolExecutor(workers, thread_name_prefix="lpips-decode") as pool:
        while chunk := list(itertools.islice(numbered, burst)):
            yield from list(pool.map(read, *zip(*chunk)))


def to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``images`` on ``device``; for a GPU, host memory is pinned first so that the copy does not hold this thread.

    Tensors already on a GPU are moved as they are: ``pin_memory`` is for host memory only (it raises on CUDA).
    """
    if device.type == "cuda" and images.device.type == "cpu":
        images = images.pin_memory()
    return images.to(device, non_blocking=True)


def default_workers() -> int:
    """Decoding threads: one per core, at most 4 (the network uses the cores too; more only queue)."""
    return max(1, min(4, os.cpu_count() or 1))


def pair_distances(
    metric,
    pairs: Iterable[tuple[ImageLike, ImageLike]],
    batch_size: int = 16,
    normalize: bool = False,
    resize: bool = False,
    errors: str = "raise",
    workers: int | None = None,
    max_waiting: int | None = None,
    progress: bool | None = None,
    total: int | None = None,
) -> Iterator[PairResult]:
    """``metric``'s distance of every pair, yielded as ``PairResult``s in input order, as soon as each is ready.

    ``metric``: ``lpips_edu.LPIPS``, ``lpips_edu.DISTS`` or any module called
    like them, ``metric(in0, in1, normalize=...)`` -> N x 1 x 1 x 1; its
    ``min_input_size`` and ``net`` give the smallest image and its name in messages.

    ``pairs``: any iterable (a list, a generator over a million files) of
    (image0, image1), each a file path or a 3 x H x W / 1 x 3 x H x W tensor.
    Tensors follow ``normalize`` ([-1, 1], or [0, 1] with normalize=True);
    files are read into [-1, 1] (``lpips_edu.data.image_files``).

    ``resize``: resize the second image of a pair to the first's size when
    they differ (else that pair is bad). ``errors``: "raise" (a bad pair raises
    its ``BadImageError``) or "skip" (it is yielded with ``error`` set).
    ``batch_size``: pairs per backbone call (16 pairs = 32 images; at 256 px
    on a 2-core CPU, 64 images a call ran about 15% slower per image than 8-32,
    ``benchmarks/folder_speed.py``). ``workers``: decoding threads (default ``default_workers()``; 0 decodes
    in this thread). ``max_waiting``: decoded pairs that may wait for a batch
    (default 4 batches). ``progress``: a bar (default: when ``total`` > 64).
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if getattr(metric, "spatial", False):
        raise ValueError("pair_distances yields one number per pair; build the metric with spatial=False")
    if total is None and hasattr(pairs, "__len__"):
        total = len(pairs)
    workers = default_workers() if workers is None else workers
    max_waiting = 4 * batch_size if max_waiting is None else max(batch_size, max_waiting)
    device = next(metric.parameters()).device
    read = _PairReader(metric, normalize, resize)
    show = (total or 0) > 64 if progress is None else progress

    buckets: dict[tuple, list[_Decoded]] = {}
    done: dict[int, PairResult] = {}
    next_out = 0
    on_gpu = device.type == "cuda"
    # On a GPU a batch's distances are read back once the next batch is queued: reading them at once
    # would hold this thread (decoding, batching, launching) until the GPU is idle, after every batch.
    in_flight: deque = deque()  # (pairs, distances in pinned host memory, event after their copy)

    def run(key: tuple) -> None:
        items = buckets.pop(key)
        in0 = torch.cat([d.images[0] for d in items])
        in1 = torch.cat([d.images[1] for d in items])
        in0, in1 = to_device(in0, device), to_device(in1, device)
        distances = metric(in0, in1, normalize=items[0].normalize).detach().float().flatten()
        if on_gpu:
            host = torch.empty(distances.shape, dtype=distances.dtype, pin_memory=True)
            host.copy_(distances, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(torch.cuda.current_stream(device))
            in_flight.append((items, host, copied))
        else:
            in_flight.append((items, distances, None))
        collect(keep=1 if on_gpu else 0)

    def collect(keep: int = 0) -> None:
        """The distances of every batch in flight but the last ``keep``."""
        while len(in_flight) > keep:
            items, distances, copied = in_flight.popleft()
            if copied is not None:
                copied.synchronize()  # this batch's copy only: later batches may still run
            for d, distance in zip(items, distances.tolist()):
                done[d.index] = PairResult(d.index, d.pair[0], d.pair[1], distance)

    def ready() -> Iterator[PairResult]:
        nonlocal next_out
        while next_out in done:
            result = done.pop(next_out)
            next_out += 1
            bar.update(1)
            if result.error is not None and errors == "raise":
                raise BadImageError(result.error)
            yield result

    with progress_bar(total=total, desc=f"{type(metric).__name__} pairs", unit="pair", disable=not show) as bar:
        waiting = 0
        decoded = (_decoded_ahead(pairs, read, workers, lookahead=2 * batch_size) if on_gpu
                   else _decoded_in_bursts(pairs, read, workers, burst=batch_size))
        for d in decoded:
            if d.error is not None:
                done[d.index] = PairResult(d.index, d.pair[0], d.pair[1], None, d.error)
            else:
                key = (tuple(d.images[0].shape[1:]), d.normalize)
                buckets.setdefault(key, []).append(d)
                waiting += 1
                if len(buckets[key]) == batch_size:
                    run(key)
                    waiting -= batch_size
                while waiting > max_waiting:  # the bucket holding the oldest pair goes as it is
                    key = min(buckets, key=lambda k: buckets[k][0].index)
                    waiting -= len(buckets[key])
                    run(key)
            yield from ready()
        for key in sorted(buckets, key=lambda k: buckets[k][0].index):
            run(key)
            yield from ready()
        collect()
        yield from ready()

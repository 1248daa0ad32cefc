"""``python -m lpips_edu compare``: LPIPS (or DISTS) distances from the command line, from one pair to millions.

    python -m lpips_edu compare A.png B.png                # one distance
    python -m lpips_edu compare --metric dists A.png B.png # DISTS (VGG-16) instead of LPIPS
    python -m lpips_edu compare --dirs D0 D1 -o out.csv    # files with the same name in D0 and D1
    python -m lpips_edu compare --all-pairs DIR -o out.csv # every pair of images in DIR
    torchrun --nproc_per_node=4 -m lpips_edu compare --dirs D0 D1 -o out.csv   # on 4 processes

Images are read as RGB (lpips_edu.data.image_files says how grayscale, RGBA,
16-bit, CMYK and EXIF-rotated files are read) and compared at their own size;
--resize resizes the second image of a pair to the first's size.

Rows are written as they are computed (CSV, or JSON Lines for a .jsonl name)
and in input order. Ctrl-C or SIGTERM stops after the current row and leaves a
valid file; --resume continues it. A bad file (unreadable, missing
counterpart, different size, too small) is reported on stderr and its pair
skipped; --strict stops at the first one instead.

Exit codes: 0 every pair compared; 1 bad pairs were skipped (or --strict
stopped at one); 2 a usage or setup error; 130/143 stopped by SIGINT/SIGTERM.

The backbone is ImageNet-trained: ``python -m lpips_edu weights fetch`` (run by
``make install``) puts AlexNet's and VGG-16's features in the cache, and the
first run without them fetches them the same way, once, unless
``LPIPS_EDU_OFFLINE=1``. ``--verbose`` names the weights used. Other choices:
``--backbone-weights PATH`` or ``--random-backbone``. Distances are float32
(the reference numbers) unless ``--precision bf16|fp16`` asks otherwise.
``--metric dists`` runs on VGG-16 (``--net vgg``, the default then) with the
alpha/beta weights of the torchmetrics wheel; the output's distance column is
then ``dists``, and LPIPS's options (--version, --heads, --no-heads) are refused.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from pathlib import Path

from ..models.registry import LPIPS_NETS

METRICS = ("lpips", "dists")

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE = 0, 1, 2
PRECISION_CHOICES = ("fp32", "bf16", "fp16")
# Largest change of a distance against fp32, LPIPS alex and vgg (ImageNet) between the shipped photos and
# noisy, blurred and JPEG copies at 64 and 256 px (48 pairs per size): see book/using_lpips.md.
PRECISION_ERRORS = {"bf16": 7.6e-3, "fp16": 2.8e-4}


def add_compare_command(subparsers) -> None:
    """Register ``compare`` (see the module docstring)."""
    p = subparsers.add_parser(
        "compare", help="LPIPS (or DISTS) distance between images", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="two image files")
    p.add_argument("--dirs", nargs=2, metavar=("D0", "D1"), help="compare files with the same name in D0 and D1")
    p.add_argument("--all-pairs", metavar="DIR", help="compare every pair of images in DIR")
    p.add_argument("-o", "--output", metavar="FILE", help="write image0,image1,lpips rows to this file "
                   "(CSV; JSON Lines if it ends in .jsonl; the last column is named after --metric)")
    p.add_argument("--format", choices=["csv", "jsonl"], help="output format (default: from the file name)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue an interrupted output file: skip its pairs")
    again.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--strict", action="store_true", help="stop at the first bad file instead of skipping its pair")
    p.add_argument("--resize", action="store_true", help="resize the second image of a pair to the first's size")
    p.add_argument("--metric", default="lpips", choices=METRICS,
                   help="lpips (default) or dists (Ding et al. 2020, VGG-16; needs torchmetrics>=1.8's weights)")
    p.add_argument("--net", choices=LPIPS_NETS, help="backbone (default alex; DISTS: vgg only)")
    p.add_argument("--version", choices=["0.1", "0.0"], help="LPIPS version (default 0.1)")
    p.add_argument("--heads", metavar="PATH", help="linear heads file (default: the official ones in the lpips wheel)")
    p.add_argument("--no-heads", action="store_true", help="uncalibrated baseline (lpips=False)")
    p.add_argument("--backbone-weights", metavar="PATH", help="backbone checkpoint instead of ImageNet weights")
    p.add_argument("--random-backbone", action="store_true", help="seeded random backbone (offline; not real LPIPS)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-backbone (default 0)")
    p.add_argument("--precision", default="fp32", choices=list(PRECISION_CHOICES),
                   help="backbone precision: fp32 (default, the reference numbers on every machine); bf16 and "
                   "fp16 are faster where the hardware has them and change a distance by up to "
                   f"{PRECISION_ERRORS['bf16']:.1e} (bf16) or {PRECISION_ERRORS['fp16']:.1e} (fp16), measured on "
                   "the shipped photos at 64 and 256 px")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per batch (default 16)")
    p.add_argument("--workers", type=int, default=None, help="decoding threads (default: one per core, at most 4)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    p.add_argument("-v", "--verbose", action="store_true", help="say which backbone and heads were used (stderr)")
    p.set_defaults(func=run_compare)


def check_metric_options(args: argparse.Namespace) -> None:
    """DISTS is one network with its own weights: LPIPS's other nets, versions and heads do not apply."""
    if args.metric != "dists":
        return
    if args.net not in (None, "vgg"):
        raise UsageError(f"--metric dists runs on VGG-16 only: drop --net {args.net} (or pass --net vgg)")
    lpips_only = [option for option, given in (("--version", args.version is not None),
                                               ("--heads", args.heads is not None), ("--no-heads", args.no_heads))
                  if given]
    if lpips_only:
        raise UsageError(f"{', '.join(lpips_only)}: LPIPS options; DISTS has no versions or heads (its weights come "
                         "with torchmetrics): drop them, or use --metric lpips")


def build_metric(args: argparse.Namespace, device):
    """The LPIPS (or DISTS) module the options ask for, on ``device``; notes on stderr about what was chosen."""
    backbone = args.backbone_weights or ("random" if args.random_backbone else None)
    if args.metric == "dists":
        from ..lpips.dists import DISTS

        metric = DISTS(backbone=backbone, precision=args.precision, seed=args.seed)
        label, heads_file = f"DISTS vgg ({args.precision})", None
    else:
        from ..lpips.linear_heads import official_heads_file
        from ..lpips.metric import LPIPS

        net, version = args.net or "alex", args.version or "0.1"
        heads = None if args.no_heads else (args.heads or "official")
        metric = LPIPS(net=net, version=version, backbone=backbone, heads=heads, precision=args.precision,
                       seed=args.seed)
        label = f"LPIPS {net} v{version} ({args.precision})"
        heads_file = official_heads_file(net, version) if heads == "official" else heads
    if args.random_backbone:
        print(f"note: {metric.weights_description}; distances are not the published {args.metric.upper()}",
              file=sys.stderr)
    if args.verbose:
        print(f"{label}: {metric.weights_description}", file=sys.stderr)
        if heads_file is not None:
            print(f"heads file: {heads_file}", file=sys.stderr)
    return metric.to(device)


class UsageError(Exception):
    """A command line that cannot run: exit code 2 with the message."""


def _pairs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    from .image_pairs import all_pairs, image_files, pairs_from_dirs

    modes = sum([bool(args.images), bool(args.dirs), bool(args.all_pairs)])
    if modes != 1:
        raise UsageError("give two IMAGE files, or --dirs D0 D1, or --all-pairs DIR (exactly one of them)")
    if args.images:
        if len(args.images) != 2:
            raise UsageError(f"compare needs exactly two image files, got {len(args.images)}")
        missing = [p for p in args.images if not Path(p).is_file()]
        if missing:
            raise UsageError(f"no such file: {', '.join(missing)}")
        return [(Path(args.images[0]), Path(args.images[1]))]
    if args.dirs:
        pairs = pairs_from_dirs(*args.dirs, allow_missing=True)
        names0 = {p.name for p, _ in pairs}
        extra = [p.name for p in image_files(args.dirs[1]) if p.name not in names0]
        if extra:
            print(f"note: {len(extra)} file(s) of {args.dirs[1]} have no counterpart in {args.dirs[0]} and are not "
                  f"compared: {extra[:5]}", file=sys.stderr)
        return pairs
    return all_pairs(args.all_pairs)


class StopRequest:
    """SIGINT/SIGTERM ask the run to stop after the current row (a second Ctrl-C stops at once)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum


@contextlib.contextmanager
def stop_requests():
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may handle signals
        yield request
        return
    saved = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def run_compare(args: argparse.Namespace) -> int:
    import torch

    from .. import distributed
    from ..models import WeightsNotAvailableError

    try:
        check_metric_options(args)
        pairs = _pairs(args)
        processes = distributed.from_environment()
        if processes.enabled and not args.output:
            raise UsageError("with torchrun, give -o FILE: each rank writes a part of it, rank 0 merges them")
        if args.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
        # the ranks only meet to merge the rows: a CPU group (gloo), whatever device computes the distances
        distributed.join(processes, torch.device("cpu"))
        code = _compare(args, pairs, processes, distributed.device_for(args.device, processes))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # a second Ctrl-C: the rows written so far are whole
        print("interrupted; run the same command with --resume to continue", file=sys.stderr)
        return 128 + signal.SIGINT
    except WeightsNotAvailableError as exc:
        print(f"error: {exc}\nOr compare with --backbone-weights PATH, or --random-backbone.", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not processes.enabled:
        return code
    code = distributed.worst_exit_code(code, processes)
    if processes.is_main and code in (EXIT_OK, EXIT_SKIPPED):
        _merge_parts(args, pairs, processes)
    distributed.barrier(processes)  # nobody exits (and makes torchrun stop the others) before the merge is written
    distributed.leave(processes)
    return code


def _compare(args: argparse.Namespace, pairs: list[tuple[Path, Path]], processes, device) -> int:
    from ..data.image_files import BadImageError
    from .distance_rows import RowFile, StdoutRows, format_for
    from .image_pairs import default_workers, pair_distances
    from .sharding import part_path, shard

    fmt = format_for(args.output, args.format)
    span = shard(len(pairs), args.batch_size, processes)
    mine = pairs[span.start:span.stop]
    single = bool(args.images) and not args.output
    if args.output:
        target = part_path(args.output, processes) if processes.enabled else Path(args.output)
        if processes.enabled and Path(args.output).is_file() and not (args.resume or args.overwrite):
            raise FileExistsError(f"{args.output} already exists; pass --resume to continue it, or --overwrite to "
                                  "replace it")
        rows = RowFile(target, fmt, resume=args.resume, overwrite=args.overwrite, column=args.metric)
    else:
        rows = _Single() if single else StdoutRows(fmt, column=args.metric)
    done = set(rows.done)
    if processes.enabled and args.resume and Path(args.output).is_file():
        from .distance_rows import read_rows

        done |= {key for key, _ in read_rows(args.output, fmt, column=args.metric)}
    todo = [(a, b) for a, b in mine if (str(a), str(b)) not in done]
    if args.resume and done:
        print(f"resuming {args.output}: {len(mine) - len(todo)} of {len(mine)} pairs already there", file=sys.stderr)
    workers = args.workers if args.workers is not None else max(1, default_workers() // processes.world_size)
    skipped = 0
    with rows, stop_requests() as stop:
        metric = build_metric(args, device)
        started = time.perf_counter()
        results = pair_distances(metric, todo, batch_size=args.batch_size, resize=args.resize,
                                 errors="raise" if args.strict else "skip", workers=workers,
                                 progress=len(todo) > 64 and processes.is_main)
        try:
            for result in results:
                if result.error is not None:
                    skipped += 1
                    print(f"{'error' if single else 'skipped'}: {result.error}", file=sys.stderr)
                else:
                    rows.write(str(result.image0), str(result.image1), result.distance)
                if stop.signal is not None:
                    break
        except BadImageError as exc:
            print(f"error: {exc}\n--strict stops at the first bad file; without it, its pair is skipped",
                  file=sys.stderr)
            return EXIT_SKIPPED
        finally:
            results.close()
    if args.verbose and rows.written:
        seconds = time.perf_counter() - started
        print(f"rank {processes.rank}: " if processes.enabled else "", end="", file=sys.stderr)
        print(f"{rows.written} pair(s) in {seconds:.1f} s after start-up: {rows.written / seconds:.1f} pairs/s",
              file=sys.stderr)
    if stop.signal is not None:
        where = f"{rows.path}" if args.output else "the output"
        print(f"stopped by {signal.Signals(stop.signal).name} after {rows.written} new row(s) in {where}; "
              "run the same command with --resume to continue", file=sys.stderr)
        return 128 + stop.signal
    if args.output and processes.is_main:
        print(f"wrote {rows.written} distance(s) to {args.output}"
              + (f" ({len(pairs) - len(todo)} were there already)" if args.resume else "")
              + (f"; skipped {skipped} bad pair(s), listed above" if skipped else ""), file=sys.stderr)
    elif skipped:
        print(f"skipped {skipped} bad pair(s), listed above", file=sys.stderr)
    return EXIT_SKIPPED if skipped else EXIT_OK


class _Single:
    """``compare A B`` without -o: just the number."""

    done: set = set()
    written = 0

    def write(self, image0: str, image1: str, distance: float) -> None:
        print(f"{distance:.6f}")
        self.written += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _merge_parts(args: argparse.Namespace, pairs, processes) -> None:
    from .distance_rows import format_for, merge_in_order
    from .sharding import all_parts

    output, fmt = Path(args.output), format_for(args.output, args.format)
    parts = all_parts(output, processes)
    sources = ([output] if args.resume else []) + parts
    order = {(str(a), str(b)): i for i, (a, b) in enumerate(pairs)}
    n = merge_in_order(sources, output, fmt, order, column=args.metric)
    for part in parts:
        part.unlink(missing_ok=True)
    print(f"merged {len(parts)} parts: {n} distance(s) in {output}", file=sys.stderr)

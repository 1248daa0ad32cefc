"""Two folders of images, end to end: the lpips package's ``lpips_2dirs.py`` loop versus ``lpips_edu compare --dirs``.

    flock /tmp/lpips-edu-bench.lock python benchmarks/folder_speed.py [--pairs 200 2000] [--out results.md] [--quick]

What a user runs to score a folder is a whole process: interpreter, imports,
model build, reading every image, the network. So both sides are timed as
processes, on the same generated folders, one after the other (never at once):

* the reference: our own rewrite of what ``lpips_2dirs.py`` does (one pair at
  a time, ``lpips.im2tensor``, ``loss_fn.forward`` without ``torch.no_grad``,
  one ``name: %.6f`` line per file). It runs in a worker process of this script
  (``--reference-worker``), which also reports the loop alone, so start-up and
  per-pair cost can be told apart. Offline, its AlexNet gets the cached ImageNet
  features through ``lpips_edu.lpips.peer.peer_lpips`` (the real script
  loads torchvision's whole AlexNet file, classifier included, so its start-up
  is, if anything, longer than measured here). ``lpips.load_image`` needs
  OpenCV; without it the worker decodes with PIL and says so.
* ours: ``python -m lpips_edu compare --dirs D0 D1 -o OUT.csv`` (``--ours-args``
  adds options).

Then ``torchrun --standalone --nproc_per_node=N`` runs ours on the largest
folder with N = 1 and 2 (``--processes``): pairs/s against processes, and
the merged file must equal the single process's byte for byte.

The distances are checked equal (reference in full precision against our
6-decimal CSV, 1e-5) before anything is reported; a mismatch exits non-zero.
Two yardsticks put the times in context: the float32 throughput of AlexNet's
convolutions alone (channels_last, inference mode, 16 pairs a batch, as compare runs them), the most
any LPIPS-AlexNet could score on this CPU, and the start-up of a one-pair
``compare`` against ``python -c "import torch"``, the least any torch program
pays. Each process is run once (a folder of 2000 pairs takes minutes), after
one unmeasured warm-up of each side on a single pair so that neither pays for a
cold file cache. The folders are seeded: 256x256 crops of the photos shipped
with scikit-image / scikit-learn / matplotlib and a noisy, blurred or JPEG copy
of each.

Only the standard library is imported at the top: the worker's start-up is
part of the measurement and must be what ``lpips_2dirs.py`` pays, no more.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMAGE_SIZE = 256
CEILING_BATCH = 16  # pairs per conv-stack call (2 * 16 images): compare's default --batch-size
TOLERANCE = 1e-5  # ours is printed with 6 decimals (rounding <= 5e-7); float32 differences are ~1e-7
DISTORTIONS = (("gaussian_noise", 0.1, 0.6), ("blur", 0.1, 0.6), ("jpeg", 0.3, 0.9))  # name, strength range


# ----------------------------------------------------------------------------- the reference worker
def _reference_decoder():
    """``lpips.load_image`` where OpenCV is installed (what the script uses), else PIL's RGB decode."""
    try:
        import cv2  # noqa: F401
        import lpips

        return lpips.load_image, "cv2 (lpips.load_image)"
    except ImportError:
        import numpy as np
        from PIL import Image

        return (lambda path: np.array(Image.open(path).convert("RGB"))), "PIL (cv2 not installed)"


def reference_worker(dir0: str, dir1: str, out: str) -> dict:
    """The ``lpips_2dirs.py`` loop, with each phase timed; the distances in full precision for the check."""
    start = time.perf_counter()
    import lpips  # the script's only heavy import (torch, torchvision)
    import torch

    from lpips_edu import models
    from lpips_edu.lpips.peer import peer_lpips

    imported = time.perf_counter()
    # lpips.LPIPS(net='alex', version='0.1'), on the cached ImageNet features instead of a download.
    backbone = models.build("alexnet", weights="imagenet-features", features_only=True)
    loss_fn = peer_lpips("alex", backbone, version="0.1")
    load_image, decoder = _reference_decoder()
    built = time.perf_counter()

    distances, decode_s, forward_s = {}, 0.0, 0.0
    with open(out, "w") as f:
        for name in os.listdir(dir0):  # unsorted, as the script does
            if not os.path.exists(os.path.join(dir1, name)):
                continue
            t0 = time.perf_counter()
            img0 = lpips.im2tensor(load_image(os.path.join(dir0, name)))
            img1 = lpips.im2tensor(load_image(os.path.join(dir1, name)))
            t1 = time.perf_counter()
            dist01 = loss_fn.forward(img0, img1)  # no torch.no_grad: the script has none
            t2 = time.perf_counter()
            print("%s: %.3f" % (name, dist01))
            f.writelines("%s: %.6f\n" % (name, dist01))
            distances[name] = float(dist01)
            decode_s += t1 - t0
            forward_s += t2 - t1
    done = time.perf_counter()
    return {
        "decoder": decoder, "torch_threads": torch.get_num_threads(), "import_s": imported - start,
        "build_s": built - imported, "loop_s": done - built, "decode_s": decode_s, "forward_s": forward_s,
        "distances": distances,
    }


# ----------------------------------------------------------------------------- the folders
def make_folders(root: Path, pairs: int, seed: int) -> tuple[Path, Path]:
    """``pairs`` PNGs in d0 (random crops of shipped photos) and same-named distorted copies in d1.

    A folder already generated with the same size and seed is reused (its ``complete`` marker is written last).
    """
    import torch
    from PIL import Image

    from lpips_edu.calibrate.benchmark import BenchmarkConfig, random_crop
    from lpips_edu.data import load_sample, sample_names, to_image, to_tensor
    from lpips_edu.data.distortions import distort

    base = root / f"pairs{pairs}-seed{seed}"
    d0, d1, marker = base / "d0", base / "d1", base / "complete"
    if marker.is_file():
        return d0, d1
    d0.mkdir(parents=True, exist_ok=True)
    d1.mkdir(parents=True, exist_ok=True)
    photos = [to_tensor(load_sample(name)) for name in sample_names()]
    crops = BenchmarkConfig(image_size=IMAGE_SIZE, max_crop_fraction=1.0)  # crops from 256 px to the short side
    g = torch.Generator().manual_seed(seed)
    for i in range(pairs):
        clean = random_crop(photos[i % len(photos)], IMAGE_SIZE, crops, g)
        kind, lo, hi = DISTORTIONS[i % len(DISTORTIONS)]
        strength = lo + (hi - lo) * float(torch.rand((), generator=g))
        distorted = distort(kind, clean, strength, g)
        Image.fromarray(to_image(clean)).save(d0 / f"{i:05d}.png")
        Image.fromarray(to_image(distorted)).save(d1 / f"{i:05d}.png")
    marker.write_text(f"{pairs} pairs, seed {seed}\n")
    return d0, d1


# ----------------------------------------------------------------------------- the processes
def timed_process(argv: list[str]) -> tuple[float, str, str]:
    """Wall seconds of a whole process (start-up included), its stdout and its stderr; exits if it fails."""
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return wall, result.stdout, result.stderr


def run_reference(d0: Path, d1: Path, out: Path) -> tuple[float, dict]:
    """The worker process: its wall time and what it reports (the last line of its stdout, JSON)."""
    wall, stdout, _ = timed_process([sys.executable, __file__, "--reference-worker", str(d0), str(d1), str(out)])
    return wall, json.loads(stdout.strip().splitlines()[-1])


def ours_argv(extra: list[str], *args: str) -> list[str]:
    """float32 unless ``extra`` says otherwise: the results must equal the reference's (bf16 moves them ~1e-4)."""
    return [sys.executable, "-m", "lpips_edu", "compare", "--precision", "fp32", *args, *extra]


def run_ours(d0: Path, d1: Path, out: Path, extra: list[str]) -> tuple[float, float, dict[str, float]]:
    """``compare --dirs -v``: its wall time, the pairs/s it reports once started, its distances by file name."""
    wall, _, err = timed_process(ours_argv(extra, "-v", "--overwrite", "--dirs", str(d0), str(d1), "-o", str(out)))
    rate = re.search(r"([0-9.]+) pairs/s", err)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    distances = {Path(r["image0"]).name: float(r["lpips"]) for r in rows}
    return wall, float(rate.group(1)) if rate else float("nan"), distances


def max_difference(ours: dict[str, float], reference: dict[str, float], what: str) -> float:
    """The largest |ours - reference|; exits non-zero on a missing file or a difference over TOLERANCE."""
    if set(ours) != set(reference):
        only = sorted(set(ours) ^ set(reference))
        raise SystemExit(f"{what}: the two sides scored different files ({len(only)} differ, e.g. {only[:5]})")
    diffs = {name: abs(ours[name] - reference[name]) for name in reference}
    worst = max(diffs, key=diffs.get)
    if diffs[worst] > TOLERANCE:
        bad = sum(d > TOLERANCE for d in diffs.values())
        raise SystemExit(f"{what}: {bad} distance(s) differ by more than {TOLERANCE}; worst {worst}: "
                         f"ours {ours[worst]:.6f}, reference {reference[worst]:.8f}")
    return diffs[worst]


# ----------------------------------------------------------------------------- the yardsticks
def startup_seconds(one_pair: tuple[Path, Path], extra: list[str]) -> tuple[float, float]:
    """Wall seconds of ``compare A B`` (one pair) and of ``python -c "import torch"``, once each."""
    compare, _, _ = timed_process(ours_argv(extra, str(one_pair[0]), str(one_pair[1])))
    torch_only, _, _ = timed_process([sys.executable, "-c", "import torch"])
    return compare, torch_only


def conv_ceiling_pairs_per_s(min_run_time: float) -> float:
    """Pairs/s of AlexNet's convolutions alone in float32: what no LPIPS-AlexNet can beat here.

    The fastest timed block counts (the least disturbed by other load on a shared CPU).
    """
    import torch
    from torch.utils import benchmark

    from lpips_edu import models

    features = models.build("alexnet", features_only=True).features.eval().to(memory_format=torch.channels_last)
    x = torch.rand(2 * CEILING_BATCH, 3, IMAGE_SIZE, IMAGE_SIZE).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        features(x)
        features(x)  # warm-up: oneDNN primitive creation, allocator
        # Timer runs on one thread unless told: the ceiling uses every thread compare uses.
        m = benchmark.Timer("f(x)", globals={"f": features, "x": x}, num_threads=torch.get_num_threads())
        m = m.blocked_autorange(min_run_time=min_run_time)
    return CEILING_BATCH / min(m.times)


def decode_seconds(d0: Path, d1: Path) -> float:
    """Seconds to read every pair of the folders into [-1, 1] tensors as ``compare`` does, on one thread.

    The second half of the bound: conv time plus this is what a program that
    decodes, then convolves, one after the other, needs at the least.
    """
    from lpips_edu.data.image_files import read_image

    start = time.perf_counter()
    for path in sorted(d0.iterdir()):
        read_image(path)
        read_image(d1 / path.name)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- the table
def machine_lines(extra: list[str]) -> list[str]:
    import torch

    from lpips_edu.analysis.machine import cpu_model
    from lpips_edu.hardware import cpu_flags, describe_cpu_precisions

    lines = [
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, avx512_bf16: {'yes' if 'avx512_bf16' in cpu_flags() else 'no'}; "
        f"{describe_cpu_precisions()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"load average before start {os.getloadavg()[0]:.1f}.",
        f"Command: `{shlex.join([sys.executable, *sys.argv])}`",
    ]
    if torch.cuda.is_available() and "--device" not in extra:
        lines.append("Warning: CUDA is available, so ours may run on the GPU while the reference loop runs on the "
                     'CPU; pass --ours-args "--device cpu" for a like-for-like comparison.')
    return lines


def measure_size(pairs: int, args: argparse.Namespace, extra: list[str]) -> dict:
    """One folder size: the reference process, then ours, then the check."""
    d0, d1 = make_folders(args.workdir, pairs, args.seed)
    ref_wall, ref = run_reference(d0, d1, args.workdir / f"reference{pairs}.txt")
    print(f"{pairs} pairs: reference process {ref_wall:.1f} s (loop {ref['loop_s']:.1f} s)", flush=True)
    ours_wall, ours_rate, ours = run_ours(d0, d1, args.workdir / f"ours{pairs}.csv", extra)
    print(f"{pairs} pairs: ours process {ours_wall:.1f} s ({ours_rate:.1f} pairs/s once started)", flush=True)
    diff = max_difference(ours, ref["distances"], f"{pairs} pairs")
    # Right after ours, in this process (the others have exited): a shared CPU's speed drifts over minutes.
    ceiling = conv_ceiling_pairs_per_s(args.min_run_time)
    decode = decode_seconds(d0, d1)
    bound = pairs / (pairs / ceiling + decode)  # pairs/s: conv time plus decode time
    return {"pairs": pairs, "ref_wall": ref_wall, "ref": ref, "ours_wall": ours_wall, "ours_rate": ours_rate,
            "ceiling": ceiling, "decode": decode, "bound": bound, "diff": diff}


def measure_processes(pairs: int, processes: list[int], args: argparse.Namespace, extra: list[str]) -> list[dict]:
    """``torchrun --standalone --nproc_per_node=N`` on the largest folder; the merge must equal one process's file."""
    d0, d1 = make_folders(args.workdir, pairs, args.seed)
    single = args.workdir / f"ours{pairs}.csv"
    rows = []
    for n in processes:
        out = args.workdir / f"ours{pairs}-torchrun{n}.csv"
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                *ours_argv(extra, "--overwrite", "--dirs", str(d0), str(d1), "-o", str(out))[1:]]
        wall, _, _ = timed_process(argv)
        equal = out.read_bytes() == single.read_bytes()
        print(f"{pairs} pairs on {n} process(es): {wall:.1f} s, byte-equal to one process: {equal}", flush=True)
        if not equal:
            raise SystemExit(f"torchrun with {n} processes wrote {out}, which differs from {single}")
        rows.append({"processes": n, "wall": wall, "pairs": pairs})
    return rows


def table(rows: list[dict], startup: tuple[float, float], extra: list[str], scaling: list[dict]) -> str:
    compare, torch_only = startup
    lines = [
        "## Two folders end to end: the lpips_2dirs.py loop vs `python -m lpips_edu compare --dirs`",
        "",
        *machine_lines(extra),
        f"Ours: `compare --dirs D0 D1 -o OUT.csv{' ' + shlex.join(extra) if extra else ''}`. "
        f"Reference decoder: {rows[0]['ref']['decoder']}; reference torch threads {rows[0]['ref']['torch_threads']}.",
        "",
        "Times are one run each. ratio = reference time / ours process time (>1: ours faster). "
        "Rates in pairs/s: ours as `compare -v` reports it once started; the reference loop's; and the conv "
        f"ceiling, AlexNet's float32 convolutions alone at {IMAGE_SIZE}x{IMAGE_SIZE}, {CEILING_BATCH} pairs a call, "
        "measured right after ours (the most any LPIPS-AlexNet could do here at that moment). The bound counts "
        "decoding too: conv time plus the time to decode every pair as compare does, on one thread, measured "
        "after the ceiling; 'ours / bound' is ours end to end, start-up included, against it.",
        "",
        "| pairs | reference loop (s) | reference process (s) | ours process (s) | ratio vs loop | ratio vs process "
        "| ours pairs/s | reference pairs/s | conv ceiling pairs/s | ours / ceiling | decode (s) | bound pairs/s "
        "| ours / bound | max \\|diff\\| |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pairs']} | {r['ref']['loop_s']:.1f} | {r['ref_wall']:.1f} | {r['ours_wall']:.1f} | "
            f"**{r['ref']['loop_s'] / r['ours_wall']:.2f}x** | **{r['ref_wall'] / r['ours_wall']:.2f}x** | "
            f"{r['ours_rate']:.1f} | {r['pairs'] / r['ref']['loop_s']:.1f} | {r['ceiling']:.1f} | "
            f"{r['ours_rate'] / r['ceiling']:.0%} | {r['decode']:.1f} | {r['bound']:.1f} | "
            f"**{r['pairs'] / r['ours_wall'] / r['bound']:.0%}** | {r['diff']:.1e} |"
        )
    if scaling:
        lines += [
            "",
            f"Many processes: `torchrun --standalone --nproc_per_node=N -m lpips_edu compare --dirs D0 D1 -o OUT.csv` "
            f"on the {scaling[0]['pairs']}-pair folder (torchrun sets one thread per process); every merged file "
            "equals the single process's file byte for byte.",
            "",
            "| processes | wall (s) | pairs/s (start-up included) |",
            "|---|---|---|",
            *(f"| {r['processes']} | {r['wall']:.1f} | {r['pairs'] / r['wall']:.1f} |" for r in scaling),
        ]
    lines += [
        "",
        f"Start-up: `compare A B` (one pair) {compare:.2f} s, `python -c \"import torch\"` {torch_only:.2f} s: "
        f"ratio {compare / torch_only:.2f}.",
        "",
        "Where the reference process spends its time (s): the rest of the process is the interpreter and exit.",
        "",
        "| pairs | imports | model build | loop | of which decode + im2tensor | of which forward | per pair (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = r["ref"]
        lines.append(
            f"| {r['pairs']} | {ref['import_s']:.2f} | {ref['build_s']:.2f} | {ref['loop_s']:.2f} | "
            f"{ref['decode_s']:.2f} | {ref['forward_s']:.2f} | {1e3 * ref['loop_s'] / r['pairs']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> str:
    extra = shlex.split(args.ours_args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    warm0, warm1 = make_folders(args.workdir, 1, args.seed)
    # Unmeasured warm-up of both sides: file cache for the interpreter, torch, torchvision and the weights.
    run_reference(warm0, warm1, args.workdir / "reference-warmup.txt")
    run_ours(warm0, warm1, args.workdir / "ours-warmup.csv", extra)
    one_pair = (warm0 / "00000.png", warm1 / "00000.png")
    startup = startup_seconds(one_pair, extra)
    rows = [measure_size(pairs, args, extra) for pairs in args.pairs]
    scaling = measure_processes(max(args.pairs), args.processes, args, extra) if args.processes else []
    return table(rows, startup, extra, scaling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[200, 2000], help="folder sizes (default 200 2000)")
    parser.add_argument("--quick", action="store_true", help="one folder of 40 pairs: a smoke run")
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2],
                        help="torchrun process counts to run on the largest folder (default 1 2; none: skip)")
    parser.add_argument("--workdir", type=Path, help="where the folders go (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ours-args", default="", help='extra options for compare, e.g. "--batch-size 16"')
    parser.add_argument("--min-run-time", type=float, default=3.0, help="seconds timing the conv ceiling")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--reference-worker", nargs=3, metavar=("D0", "D1", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_worker:
        print(json.dumps(reference_worker(*args.reference_worker)))
        return
    if args.quick:
        args.pairs, args.min_run_time = [40], 1.0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lpips-edu-folders-") as tmp:
        if args.workdir is None:
            args.workdir = Path(tmp)
        text = run(args)
    text += f"\n(benchmark took {time.perf_counter() - start:.0f} s)\n"
    print(text)
    if args.out:
        from lpips_edu.io import write_text_atomic

        write_text_atomic(args.out, text)


if __name__ == "__main__":
    main()

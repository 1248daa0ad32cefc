"""lpips_edu.LPIPS versus the lpips package (and torchmetrics), in one process, on the same inputs.

    flock /tmp/lpips-edu-bench.lock python benchmarks/lpips_speed.py [--out results.md] [--quick]

Every implementation gets the same seeded backbone weights (no ImageNet
weights are needed) and the same batches of real photos (shipped with
scikit-image / scikit-learn / matplotlib) paired with distorted copies
(noise, blur, JPEG). Results are checked equal (1e-5 in float32) before any
timing. Times are medians of torch.utils.benchmark blocked runs after a
warm-up; GFLOP/s counts convolution/matmul FLOPs with FlopCounterMode and is
compared with the float32 matmul rate measured on this CPU.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

import lpips
import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torch.utils import benchmark
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lpips_edu import LPIPS, models  # noqa: E402
from lpips_edu.data import load_sample, sample_names, to_tensor  # noqa: E402
from lpips_edu.hardware import describe_cpu_precisions  # noqa: E402
from lpips_edu.lpips.peer import copy_features_into_slices, peer_lpips, skip_random_init  # noqa: E402

NETS = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


# ----------------------------------------------------------------------------- inputs
def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer))


def real_batch(size: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n crops of shipped photos (in [-1, 1]) and a distorted copy of each (noise, blur or JPEG)."""
    rng = np.random.default_rng(seed)
    photos = [load_sample(name, max(size, 256) * 2) for name in sample_names()]
    clean, distorted = [], []
    for i in range(n):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - size + 1, size=2)
        crop = np.ascontiguousarray(photo[top : top + size, left : left + size])
        x = to_tensor(crop, (-1, 1))
        kind = i % 3
        if kind == 0:
            y = (x + float(rng.uniform(0.05, 0.3)) * torch.from_numpy(rng.standard_normal(x.shape)).float()).clamp(
                -1, 1
            )
        elif kind == 1:
            y = TF.gaussian_blur(x, kernel_size=7, sigma=float(rng.uniform(0.5, 2.5)))
        else:
            y = to_tensor(_jpeg(crop, int(rng.integers(5, 40))), (-1, 1))
        clean.append(x)
        distorted.append(y)
    return torch.cat(clean), torch.cat(distorted)


# ----------------------------------------------------------------------------- implementations
def build_all(net: str, seed: int = 0) -> dict[str, nn.Module]:
    """ours (fp32), ours (bf16), lpips and torchmetrics on one seeded backbone."""
    torch.manual_seed(seed)
    backbone = models.build(NETS[net])
    backbone.classifier = nn.Identity()
    features = {k: v.clone() for k, v in backbone.features.state_dict().items()}
    out = {"ours": LPIPS(net=net, backbone=backbone)}
    bf16_backbone = models.build(NETS[net])
    bf16_backbone.classifier = nn.Identity()
    bf16_backbone.features.load_state_dict(features)
    out["lpips"] = peer_lpips(net, bf16_backbone)  # bf16_backbone is still float32 here
    try:
        from torchmetrics.functional.image.lpips import _NoTrainLpips

        with skip_random_init():
            out["torchmetrics"] = _NoTrainLpips(net=net, pnet_rand=True)
        copy_features_into_slices(bf16_backbone.features, out["torchmetrics"].net)
    except ImportError:
        pass
    out["ours_bf16"] = LPIPS(net=net, backbone=bf16_backbone, precision="bf16")  # casts it: build it last
    return out


# ----------------------------------------------------------------------------- measuring
def median_seconds(fn, min_run_time: float) -> float:
    return interleaved_medians({"fn": fn}, min_run_time)["fn"]


def interleaved_medians(fns: dict, min_run_time: float, rounds: int = 4) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating rounds.

    The CPU is shared: alternating the candidates spreads any outside load
    over all of them instead of penalising whichever ran during a busy spell.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn()
            fn()  # warm-up: oneDNN primitive creation, allocator
        for _ in range(rounds):
            for name, fn in fns.items():
                # Timer runs on one thread unless told; the page reports torch's thread count, so use it.
                timer = benchmark.Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
                m = timer.blocked_autorange(min_run_time=min_run_time / rounds)
                times[name].extend(m.times)
    return {name: float(np.median(t)) for name, t in times.items()}


def count_flops(fn) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak_gflops(sizes: tuple[int, ...] = (2048, 3072), min_run_time: float = 1.0) -> float:
    """The best float32 matmul rate over a few sizes (fastest block: the least disturbed by other load)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        timer = benchmark.Timer("torch.mm(a, b)", globals={"torch": torch, "a": a, "b": b},
                                num_threads=torch.get_num_threads())
        m = timer.blocked_autorange(min_run_time=min_run_time)
        best = max(best, 2 * n**3 / min(m.times) / 1e9)
    return best


def check_equal(got: torch.Tensor, want: torch.Tensor, atol: float, what: str) -> float:
    err = float((got.flatten() - want.flatten()).abs().max())
    if err > atol:
        raise AssertionError(f"{what}: max abs difference {err:.3g} > {atol}")
    return err


# ----------------------------------------------------------------------------- the table
def run(args: argparse.Namespace) -> str:
    torch.manual_seed(0)
    t = args.min_run_time
    peak = matmul_peak_gflops(min_run_time=t)
    lines = [
        "## LPIPS speed: lpips_edu vs lpips " + lpips.__version__
        if hasattr(lpips, "__version__")
        else "## LPIPS speed",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average before start {os.getloadavg()[0]:.1f}; "
        f"{describe_cpu_precisions()} (where bf16 is not native it is emulated: expect no speed-up).",
        f"float32 matmul peak measured here (best of 2048^2, 3072^2): **{peak:.0f} GFLOP/s**.",
        "",
        "Times are medians (ms) over blocks timed in alternating rounds (lpips, ours, torchmetrics, ...). "
        "speed-up = lpips time / ours time (>1: ours faster). GFLOP/s counts conv+matmul "
        "FLOPs of one call; % peak is relative to the float32 matmul rate above.",
        "",
        "| net | images | batch | lpips ms | ours ms | torchmetrics ms | speed-up ours/lpips | lpips GFLOP/s (% peak) "
        "| ours GFLOP/s (% peak) | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    bf16_lines = []
    one_vs_n_lines = []
    nets = args.nets
    for net in nets:
        impls = build_all(net)
        ours, ours_bf16, ref = impls["ours"], impls["ours_bf16"], impls["lpips"]
        tm = impls.get("torchmetrics")
        for size, batch in ((64, 16 if net == "vgg" else 64), (256, 8)):
            in0, in1 = real_batch(size, batch)
            with torch.no_grad():
                want = ref(in0, in1)
                err = check_equal(ours(in0, in1), want, 1e-5, f"{net} {size}px ours vs lpips")
                if tm is not None:
                    check_equal(tm(in0, in1), want, 1e-4, f"{net} {size}px torchmetrics vs lpips")
            flops = count_flops(partial(ref, in0, in1))
            fns = {"ref": partial(ref, in0, in1), "ours": partial(ours, in0, in1)}
            if tm is not None:
                fns["tm"] = partial(tm, in0, in1)
            if net in ("alex", "vgg"):
                fns["bf16"] = partial(ours_bf16, in0, in1)
            med = interleaved_medians(fns, t * len(fns))
            t_ref, t_ours, t_tm = med["ref"], med["ours"], med.get("tm", float("nan"))
            g_ref, g_ours = flops / t_ref / 1e9, flops / t_ours / 1e9
            lines.append(
                f"| {net} | {size}x{size} | {batch} | {t_ref * 1e3:.1f} | {t_ours * 1e3:.1f} | {t_tm * 1e3:.1f} | "
                f"**{t_ref / t_ours:.2f}x** | {g_ref:.0f} ({100 * g_ref / peak:.0f}%) | "
                f"{g_ours:.0f} ({100 * g_ours / peak:.0f}%) | {err:.1e} |"
            )
            print(lines[-1], flush=True)
            if net in ("alex", "vgg"):
                with torch.no_grad():
                    fp32 = ours(in0, in1).flatten()
                    low = ours_bf16(in0, in1).flatten()
                abs_err = float((low - fp32).abs().max())
                rel_err = abs_err / float(fp32.mean())
                t_bf16 = med["bf16"]
                bf16_lines.append(
                    f"| {net} | {size}x{size} | {batch} | {t_ref * 1e3:.1f} | {t_ours * 1e3:.1f} | "
                    f"{t_bf16 * 1e3:.1f} | "
                    f"**{t_ref / t_bf16:.2f}x** | {t_ours / t_bf16:.2f}x | {abs_err:.2e} | {100 * rel_err:.2f}% | "
                    f"{float(fp32.mean()):.4f} |"
                )
                print(bf16_lines[-1], flush=True)
        # 1 vs N: one reference image against N distorted candidates.
        n = args.one_vs_n if net != "vgg" else args.one_vs_n_vgg
        in0, candidates = real_batch(64, n, seed=1)
        reference = in0[:1]
        expanded = reference.expand_as(candidates)
        with torch.no_grad():
            want = ref(expanded, candidates)
            err = check_equal(ours.compare_to_reference(reference, candidates), want, 1e-5, f"{net} 1-vs-N")
        med = interleaved_medians(
            {
                "ref": partial(ref, expanded, candidates),
                "ref_b": partial(ref, reference, candidates),
                "ours": partial(ours.compare_to_reference, reference, candidates),
            },
            3 * t,
        )
        t_ref, t_ref_b, t_ours = med["ref"], med["ref_b"], med["ours"]
        one_vs_n_lines.append(
            f"| {net} | {n} | {t_ref * 1e3:.0f} | {t_ref_b * 1e3:.0f} | {t_ours * 1e3:.0f} | "
            f"**{t_ref / t_ours:.2f}x** | "
            f"{t_ref_b / t_ours:.2f}x | {err:.1e} |"
        )
        print(one_vs_n_lines[-1], flush=True)

    lines += [
        "",
        '### Opt-in bfloat16 backbone (`LPIPS(..., precision="bf16")`)',
        "",
        "Error is measured against our float32 result on the same real image pairs.",
        "",
        "| net | images | batch | lpips fp32 ms | ours fp32 ms | ours bf16 ms | speed-up bf16/lpips | bf16/ours fp32 "
        "| max abs error | max abs error / mean distance | mean distance |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *bf16_lines,
        "",
        "### 1 vs N at 64x64: `metric.compare_to_reference(ref, candidates)` (reference features once)",
        "",
        "lpips is called as usually written, `lpips(ref.expand_as(cands), cands)`; the next column passes the "
        "batch-1 reference, which lpips also broadcasts (it then computes the reference once too).",
        "",
        "| net | N | lpips (expanded) ms | lpips (batch-1 broadcast) ms | ours ms | speed-up vs expanded "
        "| speed-up vs broadcast | max abs diff |",
        "|---|---|---|---|---|---|---|---|",
        *one_vs_n_lines,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds per timing (default 2)")
    parser.add_argument("--one-vs-n", type=int, default=256)
    parser.add_argument("--one-vs-n-vgg", type=int, default=64, help="N for VGG (its 256-image run takes minutes)")
    parser.add_argument("--quick", action="store_true", help="0.3 s per timing, N=32: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.min_run_time, args.one_vs_n, args.one_vs_n_vgg = 0.3, 32, 16
    start = time.perf_counter()
    table = run(args)
    table += f"\n(benchmark took {time.perf_counter() - start:.0f} s)\n"
    print(table)
    if args.out:
        path = Path(args.out)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(table)
        os.replace(tmp, path)


if __name__ == "__main__":
    main()

"""The GPU path in one run: what to execute the first time a GPU is available (under 8 minutes on one).

    python benchmarks/gpu_check.py                          # with CUDA: every check, results in gpu_check.json
    python benchmarks/gpu_check.py --dry-run                # on a CPU: the same code at tiny sizes, CUDA skipped
    python benchmarks/gpu_check.py --json PATH --budget 420 # where the results go; seconds for all the checks

It needs no network, no ``lpips`` wheel and no ImageNet file: every network
has seeded random weights and seeded fresh heads, the images are generated
(and the offline dataset's photographs ship with scikit-image, scikit-learn
and matplotlib). Each check prints one line, ``PASS <name>: <numbers>`` or
``FAIL <name>: <numbers or the error>`` (``SKIP <name>: <why>`` where the dry
run or the time box leaves a check out), and every result, with the machine,
goes into one JSON file. Sections are time-boxed: a section starts only with
enough of the budget left, and a watchdog writes what was measured and stops
the run if it ever goes past the budget (400 s by default) plus 50 s.

What it checks, against the CPU on the same weights and inputs:

* LPIPS (alex, vgg, squeeze): float32 within 1e-5 of the CPU, also with the
  caller's TF32 switched on (and the caller's setting back afterwards); the
  gap TF32 alone would make; bf16 and fp16 backbones; spatial maps; 1 vs N;
  finite gradients at identical inputs; input errors raised on the device;
* ``pair_distances`` (files and tensors already on the GPU), ``compare --dirs
  --device cuda`` against ``--device cpu``, and ``torchrun`` with two
  processes on one GPU against one process;
* the Trainer for a few steps: AMP off / bf16 / fp16 x channels_last, what
  ``amp=auto`` picks, gradient accumulation (equal to one large batch) and
  clipping, DDP with two processes on one GPU against one process;
  AlexNet and VGG-16-BN at 224 px, batch 256, 10 steps, with
  images/s and peak memory; the offline loader's images/s with 8 workers;
* resuming on the same device (bit-identical with deterministic cuDNN), from
  the GPU to the CPU and back, and an fp16 run from a bf16 checkpoint;
* the gpu profile's first steps, offline, and transfer learning refused at
  once without the ImageNet features;
* ONNX and TorchScript export of a GPU metric, calibration's feature cache
  and head training on the GPU, and ``torch.compile`` if time remains.

Written for torch 2.1 and later and Python 3.10 and later (a GPU machine may
have an older torch than this repository's tests): nothing newer is needed.
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_1E5 = 1e-5


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big every check is: the real run on a GPU, or the dry run's tiny one on a CPU."""

    lpips_sizes: tuple[tuple[int, int], ...]  # (image side, batch)
    nets: tuple[str, ...]
    folder_pairs: int
    folder_size: int
    train_size: int
    train_batch: int
    train_steps: int
    big_models: tuple[tuple[str, int, int, int], ...]  # (model, image side, batch, steps)
    loader_size: int
    loader_batch: int
    loader_workers: int
    loader_batches: int
    profile_overrides: dict
    triplets: int


GPU_SIZES = Sizes(
    lpips_sizes=((64, 16), (256, 8)), nets=("alex", "vgg", "squeeze"), folder_pairs=48, folder_size=64,
    train_size=64, train_batch=32, train_steps=3,
    big_models=(("alexnet", 224, 256, 10), ("vgg16_bn", 224, 256, 10)),
    loader_size=224, loader_batch=256, loader_workers=8, loader_batches=12,
    profile_overrides={"max_steps": 3}, triplets=64,
)
DRY_SIZES = Sizes(
    lpips_sizes=((64, 2),), nets=("alex", "squeeze"), folder_pairs=6, folder_size=40,
    train_size=32, train_batch=4, train_steps=2,
    big_models=(("alexnet", 64, 4, 2),),
    loader_size=32, loader_batch=8, loader_workers=2, loader_batches=2,
    profile_overrides={"max_steps": 1, "image_size": 64, "batch_size": 4, "num_workers": 2, "images_per_class": 2,
                       "val_images_per_class": 1},
    triplets=8,
)


# ----------------------------------------------------------------------------- the run: results, lines, time box


class Run:
    """Every result of this run, printed as it comes and written to one JSON file."""

    def __init__(self, dry_run: bool, budget_s: float, json_path: Path, machine: dict) -> None:
        self.dry_run, self.json_path, self.machine = dry_run, json_path, machine
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.results: list[dict] = []
        self.lock = threading.Lock()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, name: str, status: str, numbers: dict, seconds: float = 0.0) -> None:
        text = ", ".join(f"{k}={_fmt(v)}" for k, v in numbers.items())
        print(f"{status} {name}: {text}" + (f" [{seconds:.1f} s]" if seconds else ""), flush=True)
        with self.lock:
            self.results.append({"name": name, "status": status, "seconds": round(seconds, 2), **numbers})

    def skip(self, name: str, why: str) -> None:
        self.record(name, "SKIP", {"why": why})

    def check(self, name: str, fn, cuda_only: bool = False, needs_s: float = 0.0) -> None:
        """Run ``fn() -> (passed, numbers)``; an exception is a FAIL with the error, never the end of the run."""
        if cuda_only and self.dry_run:
            return self.skip(name, "CUDA only (dry run on the CPU)")
        if self.left() < needs_s:
            return self.skip(name, f"time box: {self.left():.0f} s of the budget left, this check needs {needs_s:.0f}")
        start = time.monotonic()
        try:
            passed, numbers = fn()
        except Exception as exc:  # the check's finding: reported, and the next check runs
            where = traceback.extract_tb(exc.__traceback__)[-1]
            message = str(exc).splitlines()[0][:300] if str(exc) else ""
            passed, numbers = False, {"error": f"{type(exc).__name__}: {message}",
                                      "at": f"{Path(where.filename).name}:{where.lineno}"}
            _free_gpu_memory()
        self.record(name, "PASS" if passed else "FAIL", numbers, time.monotonic() - start)

    def write(self, note: str = "") -> None:
        from lpips_edu.io import write_text_atomic

        with self.lock:
            results = list(self.results)
        counts = {s: sum(r["status"] == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
        payload = {"machine": self.machine, "dry_run": self.dry_run, "counts": counts, "note": note,
                   "seconds": round(time.monotonic() - self.started, 1), "results": results}
        write_text_atomic(self.json_path, json.dumps(payload, indent=1, default=str) + "\n")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.2e}"
    return str(value)


def _free_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def watchdog(run: Run, grace_s: float) -> threading.Timer:
    """Past the budget plus ``grace_s``, write what was measured and stop: a hung kernel must not outlive the box."""

    def stop() -> None:
        run.record("gpu_check.time_limit", "FAIL", {"budget_s": round(run.deadline - run.started),
                                                     "grace_s": grace_s})
        run.write(note="stopped by the watchdog")
        os._exit(3)

    timer = threading.Timer(max(1.0, run.left() + grace_s), stop)
    timer.daemon = True
    timer.start()
    return timer


# ----------------------------------------------------------------------------- shared pieces


def random_metric(net: str, device, **kwargs):
    """LPIPS on a seeded random backbone with seeded fresh heads (made non-negative, as trained heads are)."""
    import torch

    from lpips_edu import LPIPS

    metric = LPIPS(net=net, backbone="random", heads="fresh", seed=0, **kwargs)
    with torch.no_grad():
        for p in metric.lins.parameters():
            p.abs_()
    return metric.to(device)


def image_pairs(n: int, size: int, seed: int = 0):
    """Smooth random images in [-1, 1] and noisy copies: structure at several scales, like photographs."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(2, size // 8), max(2, size // 8), generator=g)
    fine = torch.rand(n, 3, size, size, generator=g)
    a = (0.8 * F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False) + 0.2 * fine) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    return a.clamp(-1, 1), b


def max_abs(x, y) -> float:
    return float((x.detach().float().cpu() - y.detach().float().cpu()).abs().max())


class NoiseImages:
    """A classification dataset of fixed random uint8 images (``len`` may repeat ``stored`` of them)."""

    def __init__(self, n: int, size: int, classes: int, stored: int | None = None, seed: int = 0) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        kept = min(n, stored or n)
        self.images = torch.randint(0, 256, (kept, 3, size, size), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, classes, (n,), generator=g)
        self.n, self.classes = n, [f"class{k}" for k in range(classes)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        return self.images[index % len(self.images)], int(self.labels[index])


def _config(tmp: Path, name: str, device, **changes):
    from lpips_edu.train import TrainConfig

    base = dict(model="squeezenet1_1", profile="smoke", epochs=1, lr=0.01, warmup_epochs=0.0, num_workers=0,
                device=str(device), progress=False, out_dir=str(tmp / name), save_checkpoints=False)
    return TrainConfig(**{**base, **changes})


def _finite_history(trainer) -> bool:
    return all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in trainer.history)


# ----------------------------------------------------------------------------- the sections


def check_lpips(run: Run, s: Sizes, device, cpu) -> None:
    import torch

    from lpips_edu.lpips.export import ExportableLPIPS

    for net in s.nets:
        reference = random_metric(net, cpu)
        on_device = copy.deepcopy(reference).to(device)
        for size, batch in s.lpips_sizes:
            a, b = image_pairs(batch, size, seed=size)

            def fp32(net=net, size=size, a=a, b=b, reference=reference, on_device=on_device):
                got, want = on_device(a.to(device), b.to(device)), reference(a, b)
                err = max_abs(got, want)
                return err <= LIMIT_1E5, {"max_abs": err, "limit": LIMIT_1E5, "mean_distance": float(want.mean())}

            run.check(f"lpips.{net}.fp32_vs_cpu.{size}px", fp32, needs_s=5)

    size, batch = s.lpips_sizes[-1]
    a, b = image_pairs(batch, size, seed=1)
    reference = random_metric("alex", cpu)
    alex = copy.deepcopy(reference).to(device)
    want = reference(a, b)

    def with_callers_tf32():
        saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        try:
            err = max_abs(alex(a.to(device), b.to(device)), want)
            after = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        finally:
            torch.set_float32_matmul_precision(saved[0])
            torch.backends.cudnn.allow_tf32 = saved[1]
        restored = after == ("high", True)
        return err <= LIMIT_1E5 and restored, {"max_abs": err, "limit": LIMIT_1E5, "callers_tf32_restored": restored}

    run.check("lpips.alex.fp32_with_callers_tf32_on", with_callers_tf32, needs_s=5)

    def tf32_gap():  # what the metric's full float32 prevents: the same graph with TF32 on
        plain = ExportableLPIPS(alex).eval()
        saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        try:
            with torch.no_grad():
                gap = max_abs(plain(a.to(device), b.to(device)), want.flatten())
        finally:
            torch.set_float32_matmul_precision(saved[0])
            torch.backends.cudnn.allow_tf32 = saved[1]
        return True, {"max_abs_with_tf32": gap, "note": "informational: the error full_float32 avoids"}

    run.check("lpips.alex.tf32_gap", tf32_gap, cuda_only=True, needs_s=5)

    for precision, limit in (("bf16", 0.05), ("fp16", 0.01)):
        for net in ("alex", "vgg") if "vgg" in s.nets else ("alex",):
            def low(precision=precision, limit=limit, net=net):
                ref = random_metric(net, cpu)
                metric = random_metric(net, device, precision=precision)
                got, exact = metric(a.to(device), b.to(device)), ref(a, b)
                err = max_abs(got, exact)
                rel = err / max(float(exact.abs().mean()), 1e-12)
                finite = bool(torch.isfinite(got).all())
                return finite and rel <= limit, {"max_abs": err, "max_rel_of_mean": rel, "limit_rel": limit}

            run.check(f"lpips.{net}.{precision}_vs_cpu_fp32.{size}px", low, needs_s=10)

    def spatial():
        ref = random_metric("alex", cpu, spatial=True)
        metric = copy.deepcopy(ref).to(device)
        got, exact = metric(a.to(device), b.to(device)), ref(a, b)
        err = max_abs(got, exact)
        return err <= LIMIT_1E5 and got.shape == exact.shape, {"max_abs": err, "shape": tuple(got.shape)}

    run.check("lpips.alex.spatial_vs_cpu", spatial, needs_s=5)

    def one_vs_n():
        first = a[:1]
        got = alex.compare_to_reference(first.to(device), b.to(device), batch_size=max(1, len(b) // 3))
        broadcast = alex(first.to(device), b.to(device))
        exact = reference(first.expand_as(b), b)
        err = max(max_abs(got, exact), max_abs(broadcast, exact))
        return err <= LIMIT_1E5, {"max_abs": err, "candidates": len(b)}

    run.check("lpips.alex.one_vs_n_vs_cpu", one_vs_n, needs_s=5)

    def gradients():
        x = a.to(device).clone().requires_grad_(True)
        alex(x, x.detach()).sum().backward()  # identical images: the lpips package gives NaN here
        at_identical = bool(torch.isfinite(x.grad).all())
        y = a.to(device).clone().requires_grad_(True)
        alex(y, b.to(device)).sum().backward()
        z = a.clone().requires_grad_(True)
        reference(z, b).sum().backward()
        rel = max_abs(y.grad, z.grad) / max(float(z.grad.abs().max()), 1e-12)
        return at_identical and bool(torch.isfinite(y.grad).all()) and rel <= 1e-2, {
            "finite_at_identical_inputs": at_identical, "grad_rel_diff_vs_cpu": rel, "limit_rel": 1e-2}

    run.check("lpips.alex.gradients", gradients, needs_s=5)

    def input_errors():
        found = {}
        for label, bad in (("nan", a.clone().fill_(float("nan"))), ("0..255", (a + 1) * 127.5)):
            try:
                alex(bad.to(device), b.to(device))
                found[label] = "accepted"
            except ValueError as exc:
                found[label] = "NaN" in str(exc) or "values in" in str(exc)
        return all(v is True for v in found.values()), found

    run.check("lpips.alex.input_errors_on_the_device", input_errors, needs_s=5)


def _write_folders(root: Path, n: int, size: int) -> tuple[Path, Path]:
    import numpy as np
    from PIL import Image

    d0, d1 = root / "d0", root / "d1"
    d0.mkdir(parents=True)
    d1.mkdir(parents=True)
    a, b = image_pairs(n, size, seed=7)
    for i in range(n):
        for folder, image in ((d0, a[i]), (d1, b[i])):
            pixels = ((image.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return d0, d1


def _read_csv(path: Path) -> list[tuple[str, str, float]]:
    with open(path, newline="") as f:
        return [(r["image0"], r["image1"], float(r["lpips"])) for r in csv.DictReader(f)]


def check_folders(run: Run, s: Sizes, device, cpu, tmp: Path) -> None:
    import torch

    from lpips_edu.calibrate import save_heads
    from lpips_edu.cli.image_pairs import pair_distances, pairs_from_dirs

    d0, d1 = _write_folders(tmp / "folders", s.folder_pairs, s.folder_size)
    pairs = pairs_from_dirs(d0, d1)
    reference = random_metric("alex", cpu)
    on_device = copy.deepcopy(reference).to(device)
    heads = save_heads(reference, tmp / "heads.pth")

    def files():
        want = [r.distance for r in pair_distances(reference, pairs, batch_size=8, workers=2)]
        results = list(pair_distances(on_device, pairs, batch_size=8, workers=2))
        got = [r.distance for r in results]
        in_order = [r.index for r in results] == list(range(len(pairs)))
        err = max(abs(x - y) for x, y in zip(got, want))
        return in_order and err <= LIMIT_1E5, {"pairs": len(pairs), "max_abs": err, "in_order": in_order}

    run.check("folders.pair_distances_vs_cpu", files, needs_s=10)

    def tensors_on_the_device():  # pin_memory raised on them before
        a, b = image_pairs(6, s.folder_size, seed=3)
        got = [r.distance for r in pair_distances(on_device, [(x.to(device), y.to(device)) for x, y in zip(a, b)],
                                                 batch_size=4, workers=0)]
        want = reference(a, b).flatten().tolist()
        err = max(abs(x - y) for x, y in zip(got, want))
        return err <= LIMIT_1E5, {"max_abs": err}

    run.check("folders.pair_distances_of_tensors_on_the_device", tensors_on_the_device, needs_s=5)

    path = [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "LPIPS_EDU_PROGRESS": "off"}
    if run.dry_run:
        env["OMP_NUM_THREADS"] = "1"
    common = ["-m", "lpips_edu", "compare", "--random-backbone", "--seed", "0", "--heads", str(heads),
              "--batch-size", "4", "--dirs", str(d0), str(d1)]
    outputs: dict[str, Path] = {}

    def cli(device_name: str, out: Path, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, *(launcher or []), *common, "--device", device_name, "-o", str(out), "--overwrite"]
        return subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=240)

    def compare_dirs():
        runs = {}
        for name in ("cpu", device.type):
            outputs[name] = tmp / f"compare_{name}.csv"
            runs[name] = cli(name, outputs[name])
            if runs[name].returncode != 0:
                return False, {"device": name, "exit": runs[name].returncode, "stderr": runs[name].stderr[-400:]}
        want, got = _read_csv(outputs["cpu"]), _read_csv(outputs[device.type])
        same_rows = [r[:2] for r in want] == [r[:2] for r in got]
        err = max(abs(x[2] - y[2]) for x, y in zip(got, want))
        return same_rows and err <= LIMIT_1E5, {"rows": len(got), "max_abs": err, "same_rows": same_rows}

    run.check(f"folders.compare_dirs_device_{device.type}_vs_cpu", compare_dirs, needs_s=30)

    def torchrun_two_processes():
        merged = tmp / "merged.csv"
        launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        result = cli(device.type, merged, launcher)
        if result.returncode != 0:
            return False, {"exit": result.returncode, "stderr": result.stderr[-400:]}
        single = outputs.get(device.type)
        if single is None or not single.is_file():
            single = tmp / "single.csv"
            cli(device.type, single)
        want, got = _read_csv(single), _read_csv(merged)
        same_rows = [r[:2] for r in want] == [r[:2] for r in got]
        err = max(abs(x[2] - y[2]) for x, y in zip(got, want))
        gpus = torch.cuda.device_count() if device.type == "cuda" else 0
        return same_rows and err <= LIMIT_1E5, {"gpus": gpus, "rows": len(got), "max_abs_vs_one_process": err,
                                                "same_rows": same_rows}

    run.check(f"folders.torchrun_2_processes_{device.type}", torchrun_two_processes, needs_s=45)


def check_trainer(run: Run, s: Sizes, device, tmp: Path) -> None:
    import torch

    from lpips_edu.hardware import cuda_has_native_bf16
    from lpips_edu.lpips.metric import full_float32
    from lpips_edu.profiles import get_profile
    from lpips_edu.train import Trainer, amp_dtype_for

    train = NoiseImages(s.train_batch * (s.train_steps + 1), s.train_size, 4)
    val = NoiseImages(s.train_batch, s.train_size, 4, seed=1)

    def amp_auto():
        chosen = amp_dtype_for("auto", device, get_profile("gpu"))
        if device.type == "cuda":
            native = cuda_has_native_bf16(device)
            expected = torch.bfloat16 if native else torch.float16
            return chosen == expected, {"capability": ".".join(map(str, torch.cuda.get_device_capability(device))),
                                        "native_bf16": native, "amp_auto": str(chosen)}
        return chosen is None, {"amp_auto": str(chosen), "note": "gpu profile on a CPU: float32"}

    run.check("train.amp_auto", amp_auto)

    for amp in ("off", "bf16", "fp16"):
        for channels_last in (False, True):
            def steps(amp=amp, channels_last=channels_last):
                trainer = Trainer(_config(tmp, f"t_{amp}_{channels_last}", device, amp=amp, channels_last=channels_last,
                                          image_size=s.train_size, batch_size=s.train_batch, max_steps=s.train_steps),
                                  None, train, val)
                trainer.fit()
                numbers = {"loss": trainer.history[-1]["train_loss"], "steps": trainer.step,
                           "scaler": trainer.scaler.is_enabled()}
                if trainer.scaler.is_enabled():
                    numbers["scale"] = float(trainer.scaler.get_scale())
                ok = _finite_history(trainer) and trainer.scaler.is_enabled() == (amp == "fp16")
                return ok, numbers

            run.check(f"train.steps.amp_{amp}.{'channels_last' if channels_last else 'contiguous'}", steps, needs_s=10)

    def accumulation():
        cfg = dict(max_steps=1, dropout=0.0, optimizer="sgd", image_size=s.train_size, amp="off", channels_last=False)
        with full_float32():  # the comparison of two summation orders, not of TF32
            big = Trainer(_config(tmp, "big", device, batch_size=2 * s.train_batch, **cfg), None, train, val)
            big.fit()
            small = Trainer(_config(tmp, "acc", device, batch_size=s.train_batch, grad_accum_steps=2, **cfg), None,
                            train, val)
            small.fit()
        err = max(max_abs(p, q) for p, q in zip(big.model.state_dict().values(), small.model.state_dict().values()))
        clipped = Trainer(_config(tmp, "clip", device, batch_size=s.train_batch, grad_accum_steps=2, grad_clip=0.5,
                                  amp="fp16" if device.type == "cuda" else "off", max_steps=2,
                                  image_size=s.train_size), None, train, val)
        clipped.fit()
        return err <= 1e-4 and _finite_history(clipped), {"max_abs_weights_vs_one_batch": err, "limit": 1e-4,
                                                          "clipped_loss": clipped.history[-1]["train_loss"]}

    run.check("train.grad_accumulation_and_clipping", accumulation, needs_s=15)

    def ddp_two_processes_one_gpu():
        """DDP over gloo with two ranks on one GPU (NCCL refuses that): one step of 2 x 4 equals one of 1 x 8."""
        from lpips_edu.train import load_checkpoint

        common = ["-m", "lpips_edu.train", "--model", "squeezenet1_1", "--profile", "smoke", "--image-size", "32",
                  "--images-per-class", "4", "--val-images-per-class", "1", "--max-steps", "1", "--dropout", "0",
                  "--lr", "0.05", "--warmup-epochs", "0", "--progress", "false", "--seed", "3", "--amp", "off",
                  "--device", device.type]
        path = [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "NVIDIA_TF32_OVERRIDE": "0"}  # TF32 off: exact sums
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        runs = {}
        for name, prefix, batch in (("one", [sys.executable], "8"), ("two", launcher, "4")):
            command = [*prefix, *common, "--batch-size", batch, "--out-dir", str(tmp / f"ddp_{name}")]
            runs[name] = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=240)
            if runs[name].returncode != 0:
                return False, {"run": name, "exit": runs[name].returncode, "stderr": runs[name].stderr[-400:]}
        one, two = (load_checkpoint(tmp / f"ddp_{n}" / "checkpoint.pt")["model"] for n in ("one", "two"))
        err = max(max_abs(one[k], two[k]) for k in one)
        return err <= 1e-5, {"max_abs_weights_vs_one_process": err, "limit": LIMIT_1E5,
                             "gpus": torch.cuda.device_count()}

    run.check("train.torchrun_2_processes_one_gpu", ddp_two_processes_one_gpu, cuda_only=True, needs_s=60)

    for model, size, batch, steps in s.big_models:
        def throughput(model=model, size=size, batch=batch, steps=steps):
            data = NoiseImages(batch * steps, size, 1000, stored=batch)
            val_data = NoiseImages(batch, size, 1000, stored=batch, seed=1)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            config = _config(tmp, f"big_{model}", device, model=model, profile="gpu", image_size=size,
                             batch_size=batch, max_steps=steps, optimizer="sgd", lr=0.01)
            trainer = Trainer(config, None, data, val_data)
            trainer.fit()
            numbers = {"images_per_s": round(trainer.history[-1]["images_per_second"], 1), "batch": batch, "size": size,
                       "steps": trainer.step, "amp": str(trainer.amp_dtype), "channels_last": trainer.channels_last}
            if device.type == "cuda":
                numbers["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            del trainer
            _free_gpu_memory()
            return math.isfinite(numbers["images_per_s"]), numbers

        run.check(f"train.throughput.{model}.{size}px_batch{batch}", throughput, needs_s=40)


def check_loader(run: Run, s: Sizes, device) -> None:
    from lpips_edu.data import OFFLINE_CLASSES, OfflineImages
    from lpips_edu.distributed import Distributed
    from lpips_edu.train import make_loaders

    def offline_loader():
        per_class = s.loader_batch * s.loader_batches // len(OFFLINE_CLASSES) + 1
        data = OfflineImages("train", per_class, s.loader_size, seed=0)
        val = OfflineImages("val", 1, s.loader_size, seed=0)
        loaders = make_loaders(data, val, s.loader_batch, s.loader_workers, Distributed(), 0,
                               pin_memory=device.type == "cuda")
        seen, start, first = 0, time.perf_counter(), None
        for k, (images, _) in enumerate(loaders.train):
            images = images.to(device, non_blocking=True)
            seen += len(images)
            if first is None:
                first = time.perf_counter() - start  # the workers' start and their first batch
            if k + 1 >= s.loader_batches or time.perf_counter() - start > 30:
                break
        seconds = time.perf_counter() - start
        return seen > 0, {"images_per_s": round(seen / seconds, 1), "workers": s.loader_workers, "images": seen,
                          "size": s.loader_size, "first_batch_s": round(first or 0.0, 2),
                          "persistent_workers": loaders.train.persistent_workers}

    run.check(f"data.offline_loader_{s.loader_workers}_workers", offline_loader, needs_s=40)


def check_resume(run: Run, s: Sizes, device, cpu, tmp: Path) -> None:
    import shutil

    import torch

    from lpips_edu.lpips.metric import full_float32
    from lpips_edu.train import Trainer

    train = NoiseImages(s.train_batch * 3, s.train_size, 4)
    val = NoiseImages(s.train_batch, s.train_size, 4, seed=1)
    common = dict(image_size=s.train_size, batch_size=s.train_batch, epochs=2, save_checkpoints=True,
                  optimizer="adamw", lr=1e-3)

    def same_device():
        saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False  # this check's choice only
        try:
            with full_float32():
                whole = Trainer(_config(tmp, "whole", device, **common), None, train, val)
                whole.fit()
                half = Trainer(_config(tmp, "half", device, **common), None, train, val)
                half.fit(until_epoch=1)
                resumed = Trainer(_config(tmp, "half", device, resume=True, **common), None, train, val)
                resumed.fit()
        finally:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved
        err = max(max_abs(p, q) for p, q in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()))
        losses = max(abs(x - y) for x, y in zip(resumed.step_losses, whole.step_losses))
        # bit-identical on a CPU; on a GPU the atomic adds of some backward kernels (overlapping max pooling) may
        # round differently even with deterministic cuDNN
        return err <= LIMIT_1E5 and losses <= LIMIT_1E5 and len(resumed.step_losses) == len(whole.step_losses), {
            "max_abs_weights": err, "max_abs_step_losses": losses, "bit_identical": err == 0.0 and losses == 0.0,
            "note": "deterministic cuDNN and TF32 off for this check"}

    run.check(f"train.resume.same_device_{device.type}", same_device, needs_s=15)

    def across(source, target, name, source_amp="off", target_amp="off"):
        def go():
            first = Trainer(_config(tmp, f"{name}_a", source, amp=source_amp, **common), None, train, val)
            first.fit(until_epoch=1)
            (tmp / f"{name}_b").mkdir(exist_ok=True)
            shutil.copy(first.checkpoint_path, tmp / f"{name}_b" / "checkpoint.pt")  # as if carried to the other device
            second = Trainer(_config(tmp, f"{name}_b", target, amp=target_amp, resume=True, **common), None, train, val)
            second.fit()
            return second.epoch == 2 and _finite_history(second), {
                "from": f"{source.type}/{source_amp}", "to": f"{target.type}/{target_amp}", "epochs": second.epoch,
                "loss": second.history[-1]["train_loss"], "scaler": second.scaler.is_enabled()}
        return go

    run.check("train.resume.device_to_cpu", across(device, cpu, "to_cpu"), needs_s=15)
    run.check("train.resume.cpu_to_device", across(cpu, device, "from_cpu"), needs_s=15)
    run.check("train.resume.bf16_checkpoint_into_fp16", across(device, device, "bf16_fp16", "bf16", "fp16"),
              needs_s=15)


def check_gpu_profile(run: Run, s: Sizes, device, tmp: Path) -> None:
    from lpips_edu import models
    from lpips_edu.train import Trainer, recipe

    def first_steps():
        config = recipe("alexnet", "gpu", **{"epochs": 1, "save_checkpoints": False, "progress": False,
                                             "out_dir": str(tmp / "gpu_profile"), "device": str(device),
                                             **s.profile_overrides})
        trainer = Trainer(config)
        trainer.fit()
        record = trainer.history[-1]
        return _finite_history(trainer), {"steps": trainer.step, "images_per_s": round(record["images_per_second"], 1),
                                          "image_size": trainer.image_size, "batch": trainer.batch_size,
                                          "workers": trainer.loaders.train.num_workers, "amp": str(trainer.amp_dtype),
                                          "val_top1": round(record["val_top1"], 3)}

    run.check("train.gpu_profile_first_steps_offline", first_steps, needs_s=60)

    def transfer_refused_at_once():
        start = time.monotonic()
        try:
            models.build("alexnet", num_classes=10, weights="imagenet-features")
        except models.WeightsNotAvailableError as exc:
            seconds = time.monotonic() - start
            return seconds < 30 and "weights fetch" in str(exc), {"refused_in_s": round(seconds, 2)}
        return False, {"error": "ImageNet features were found: this check expects a machine without them"}

    run.check("train.transfer_without_imagenet_features_refused_offline", transfer_refused_at_once, needs_s=5)


def check_export_calibration_compile(run: Run, s: Sizes, device, cpu, tmp: Path) -> None:
    import importlib.util

    import torch

    from lpips_edu.lpips.export import export_onnx, export_torchscript
    from lpips_edu.lpips.metric import full_float32

    metric = random_metric("alex", device)

    def onnx():
        if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
            return True, {"skipped": "onnx / onnxruntime not installed (pip install 'lpips-edu[export]')"}
        path = export_onnx(metric, tmp / "alex.onnx", image_size=64)
        return path.is_file(), {"mb": round(path.stat().st_size / 1e6, 1), "checked_atol": 1e-5}

    run.check("export.onnx_from_the_device", onnx, needs_s=20)

    def torchscript():
        path = export_torchscript(metric, tmp / "alex.pt", image_size=64)
        return path.is_file(), {"mb": round(path.stat().st_size / 1e6, 1), "checked_atol": 1e-5}

    run.check("export.torchscript_from_the_device", torchscript, needs_s=20)

    def calibration():
        from lpips_edu.calibrate import BenchmarkConfig, HeadTrainingConfig, make_offline_2afc, train_heads
        from lpips_edu.calibrate.cached import cache_triplets
        from lpips_edu.data import sample_names

        data = make_offline_2afc(s.triplets, sample_names(), 0, BenchmarkConfig(image_size=64))
        reference = random_metric("alex", cpu)
        on_device = copy.deepcopy(reference).to(device)
        want, got = cache_triplets(reference, data), cache_triplets(on_device, data)
        rel = max(max_abs(x, y) / max(float(y.abs().max()), 1e-12) for key in ("m0", "m1")
                  for x, y in zip(got[key], want[key]))
        on_cpu_after = all(t.device.type == "cpu" for key in ("m0", "m1") for t in got[key])
        history = train_heads(on_device, data, HeadTrainingConfig(epochs=1, decay_epochs=1, batch_size=16),
                              device=device, progress=False)
        finite = all(math.isfinite(r["loss"]) for r in history)
        return rel <= 1e-4 and on_cpu_after and finite, {"triplets": s.triplets, "cache_rel_diff": rel,
                                                         "cache_on_cpu": on_cpu_after, "loss": history[-1]["loss"]}

    run.check("calibrate.cache_and_heads_on_the_device", calibration, needs_s=20)

    def compiled():
        a, b = image_pairs(8, 128, seed=5)
        eager = random_metric("alex", device)
        fast = copy.deepcopy(eager)
        fast.net.forward_features = torch.compile(fast.net.forward_features)
        start = time.monotonic()
        with full_float32():
            got = fast(a.to(device), b.to(device))
        first_call = time.monotonic() - start
        err = max_abs(got, eager(a.to(device), b.to(device)))
        return err <= 1e-4, {"max_abs_vs_eager": err, "limit": 1e-4, "compile_and_first_call_s": round(first_call, 1)}

    run.check("compile.alex_forward_features", compiled, cuda_only=True, needs_s=90)


# ----------------------------------------------------------------------------- main


def describe(device) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda_build": torch.version.cuda,
            "device": str(device), "cpu_threads": torch.get_num_threads(), "platform": platform.platform(terse=True)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
        info["gpus"] = torch.cuda.device_count()
        info["memory_gb"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, tiny sizes, CUDA-only checks skipped")
    parser.add_argument("--json", type=Path, default=Path("gpu_check.json"),
                        help="the results file (default gpu_check.json)")
    parser.add_argument("--budget", type=float, default=400.0,
                        help="seconds for all the checks (default 400; a watchdog stops the run 50 s past it)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="lpips-edu-gpu-check-"))
    # Offline and on nothing of this machine's: no fetch, no torchvision file, no book checkpoint, no runs/ folder.
    os.environ.update({"LPIPS_EDU_OFFLINE": "1", "LPIPS_EDU_CACHE": str(tmp / "cache"),
                       "TORCH_HOME": str(tmp / "torch"), "LPIPS_EDU_RUNS": str(tmp / "runs"),
                       "LPIPS_EDU_PROGRESS": "off", "LPIPS_EDU_ALLOW_DOWNLOAD": "0"})
    sys.path.insert(0, str(REPO))
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        print("CUDA is not available here: run on a machine with a GPU, or pass --dry-run to check the script on "
              "the CPU", file=sys.stderr)
        return 2
    device = torch.device("cuda", 0) if cuda and not args.dry_run else torch.device("cpu")
    cpu = torch.device("cpu")
    sizes = DRY_SIZES if args.dry_run else GPU_SIZES
    machine = describe(device)
    print(f"gpu_check on {machine}")
    if args.dry_run:
        print("DRY RUN on the CPU at tiny sizes: CUDA is skipped. The checks compare the CPU with itself, so their "
              "numbers prove the code runs, not that a GPU gives the CPU's numbers; CUDA-only checks print SKIP.")
    run = Run(args.dry_run, args.budget, args.json, machine)
    timer = watchdog(run, grace_s=50.0)
    torch.manual_seed(0)
    for section in (lambda: check_lpips(run, sizes, device, cpu),
                    lambda: check_folders(run, sizes, device, cpu, tmp),
                    lambda: check_trainer(run, sizes, device, tmp),
                    lambda: check_loader(run, sizes, device),
                    lambda: check_resume(run, sizes, device, cpu, tmp),
                    lambda: check_gpu_profile(run, sizes, device, tmp),
                    lambda: check_export_calibration_compile(run, sizes, device, cpu, tmp)):
        try:
            section()
        except Exception as exc:  # a section's set-up failed (an import, a dataset): its checks did not run
            run.record("gpu_check.section", "FAIL", {"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    timer.cancel()
    run.write()
    counts = {s: sum(r["status"] == s for r in run.results) for s in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped in "
          f"{time.monotonic() - run.started:.0f} s; results in {args.json}")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())

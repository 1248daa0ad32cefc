"""Images per second of one training step: our Trainer versus a plain loop over torchvision.

Same process, same model weights, batch, input size and optimizer (SGD with
momentum); "ours" is ``Trainer.train_step`` (uint8 in, normalisation on the
device, learning-rate schedule, metrics), "plain" is the five-line loop every
PyTorch tutorial writes. Then the Trainer's speed knobs: channels_last memory
layout and bf16 autocast (fast on CPUs with AVX512-BF16 / AMX; see lscpu).

    flock /tmp/lpips-edu-bench.lock python benchmarks/train_throughput.py --size 64 --batch 32
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import Dataset

from lpips_edu import models
from lpips_edu.data import normalize
from lpips_edu.train import TrainConfig, Trainer, cpu_has_fast_bf16


class RandomImages(Dataset):
    """uint8 noise images, just enough for a Trainer to be built."""

    def __init__(self, n: int, size: int, classes: int) -> None:
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
        self.labels = torch.arange(n) % classes
        self.classes = [str(i) for i in range(classes)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def time_interleaved(steps: dict, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each step function, measured in alternating rounds.

    Rounds of (plain, ours, ours+knob, ...) instead of one variant after another, so that a
    change in machine load (other processes on a shared CPU) affects every variant alike.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def plain_loop(name: str, images: torch.Tensor, labels: torch.Tensor):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    x = normalize(images)

    def step():
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def ours(name: str, images: torch.Tensor, labels: torch.Tensor, channels_last: bool, amp: str):
    torch.manual_seed(0)
    data = RandomImages(len(images), images.shape[-1], 1000)
    config = TrainConfig(model=name, profile="cpu", image_size=images.shape[-1], batch_size=len(images),
                         lr=1e-3, channels_last=channels_last, amp=amp, progress=False,
                         save_checkpoints=False, warmup_epochs=0, device="cpu")
    trainer = Trainer(config, models.build(name), data, data)
    batch = [(images, labels)]
    return lambda: trainer.train_step(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["alexnet", "vgg16", "squeezenet1_1"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16_hw = cpu_has_fast_bf16()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {args.size}px, batch {args.batch}, "
          f"CPU bf16 instructions: {'yes' if bf16_hw else 'no'}")
    variants = [("ours fp32", False, "off"), ("ours channels_last", True, "off"),
                ("ours bf16", False, "bf16"), ("ours channels_last+bf16", True, "bf16")]
    print(f"{'model':<15}{'variant':<26}{'images/s':>10}{'vs plain':>10}")
    for name in args.models:
        images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
        labels = torch.randint(0, 1000, (args.batch,))
        steps = {"plain torchvision fp32": plain_loop(name, images, labels)}
        for label, cl, amp in variants:
            steps[label] = ours(name, images, labels, cl, amp)
        seconds = time_interleaved(steps, args.repeats)
        base = seconds["plain torchvision fp32"]
        for label, t in seconds.items():
            print(f"{name:<15}{label:<26}{args.batch / t:>10.1f}{base / t:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()

"""Images per second of one training step: our Trainer versus a plain loop over torchvision.

Same process, same weights, batch, input size and optimizer (SGD with momentum),
timed interleaved; then the Trainer's speed knobs (channels_last, bf16 autocast).
The measurement lives in ``lpips_edu.analysis.training_speed`` so that the book
(chapter "Training SqueezeNet") shows the same table, measured on the reader's machine.

    flock /tmp/lpips-edu-bench.lock python benchmarks/train_throughput.py --size 64 --batch 16 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lpips_edu.analysis.machine import describe_machine, machine_line  # noqa: E402
from lpips_edu.analysis.training_speed import training_throughput  # noqa: E402
from lpips_edu.hardware import describe_cpu_precisions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["alexnet", "vgg16", "squeezenet1_1"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, help="also write the table as markdown to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line(describe_machine("cpu")))
    print(f"input {args.size} px, batch {args.batch}, {args.repeats} interleaved rounds; {describe_cpu_precisions()}")
    table = training_throughput(args.models, size=args.size, batch=args.batch, repeats=args.repeats)
    text = table.to_markdown(index=False, floatfmt=".2f")
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

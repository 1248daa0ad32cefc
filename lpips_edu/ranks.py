"""One command on many processes, started by ``torchrun``: which pairs each rank computes, and the merge.

There is no scheduler of our own: ``torchrun`` starts the processes (on one
machine or many, with its usual rendezvous flags) and sets ``RANK`` and
``WORLD_SIZE``. From those alone every rank knows its share:

* the pairs are cut into ``WORLD_SIZE`` contiguous blocks, in input order,
  at multiples of the batch size (so each rank's batches are the batches a
  single process would have run, and the numbers are the same to the bit);
* each rank writes its rows to its own part file next to the output
  (``out.csv.part0-of-2``, resumable like any output file);
* when every rank is done (a ``gloo`` barrier: CPU-only machines have it too),
  rank 0 merges the parts into the output in input order and removes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

# A rank may wait at the final barrier while the others finish their share: allow a long run.
BARRIER_TIMEOUT = timedelta(hours=72)


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a torchrun job (rank 0 of 1 when run alone); the Trainer uses it too."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the rank on this machine: which GPU is this process's

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Distributed:
    """This process's rank, as ``torchrun`` sets it (a plain run is rank 0 of 1)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} is not between 0 and WORLD_SIZE-1={world_size - 1}")
    return Distributed(rank, world_size, local_rank)


def device_for(device, ranks: Distributed):
    """One GPU per process: a bare ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun (a CPU stays a CPU)."""
    import torch

    if ranks.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", ranks.local_rank)
    return device


def shard(n_pairs: int, batch_size: int, ranks: Distributed) -> range:
    """The contiguous block of pair indices this rank computes (cut at whole batches)."""
    batches = -(-n_pairs // batch_size)
    first, last = (batches * r // ranks.world_size for r in (ranks.rank, ranks.rank + 1))
    return range(min(first * batch_size, n_pairs), min(last * batch_size, n_pairs))


def part_path(output: str | os.PathLike, ranks: Distributed) -> Path:
    output = Path(output)
    return output.with_name(f"{output.name}.part{ranks.rank}-of-{ranks.world_size}")


def all_parts(output: str | os.PathLike, ranks: Distributed) -> list[Path]:
    return [part_path(output, Distributed(r, ranks.world_size)) for r in range(ranks.world_size)]


def start(ranks: Distributed) -> None:
    """Join the other ranks (``gloo``: works without GPUs; torchrun's environment says where to meet)."""
    import torch.distributed as dist

    if ranks.enabled and not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)


def worst_exit_code(code: int, ranks: Distributed) -> int:
    """The largest exit code of all ranks, known to every rank (a barrier too: all have finished)."""
    if not ranks.enabled:
        return code
    import torch
    import torch.distributed as dist

    value = torch.tensor([code])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return int(value)


def barrier(ranks: Distributed) -> None:
    if ranks.enabled:
        import torch.distributed as dist

        dist.barrier()


def finish(ranks: Distributed) -> None:
    if ranks.enabled:
        import torch.distributed as dist

        dist.destroy_process_group()

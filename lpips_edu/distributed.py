"""One job on many processes, started by ``torchrun``: where this process sits, its device, its group.

There is no scheduler of our own: ``torchrun`` starts the processes (on one
machine or many, with its usual rendezvous flags) and sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``. The Trainer and ``compare`` both read them
here, into one ``Distributed`` record that every function below takes:

* ``from_environment``: rank 0 of 1 for a plain run;
* ``device_for``: one GPU per process under torchrun (``LOCAL_RANK`` taken
  modulo the GPUs present, so two processes on a one-GPU machine share it);
* ``join`` / ``leave``: the process group (``nccl`` when each process has a GPU
  of its own, else ``gloo``, which also runs on CPUs and shared GPUs);
* ``sum_over_processes``, ``worst_exit_code``, ``barrier``: the collectives
  the two commands need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

from .profiles import pick_device

# A rank may wait at a barrier while the others finish their share: allow a long run.
BARRIER_TIMEOUT = timedelta(hours=72)


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the rank on this machine: which GPU is this process's
    local_world_size: int = 1  # processes on this machine

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Distributed:
    """This process's place, as ``torchrun`` sets it (a plain run is rank 0 of 1)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers "
                         "(torchrun sets them)") from None
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} is not between 0 and WORLD_SIZE-1={world_size - 1}")
    return Distributed(rank, world_size, local_rank, local_world_size)


def device_for(requested: str | torch.device | None, processes: Distributed) -> torch.device:
    """This process's device: ``requested`` (default: the best available), its own GPU under torchrun.

    A bare ``cuda`` becomes ``cuda:k`` with ``k = LOCAL_RANK mod (GPUs on this
    machine)``: with fewer GPUs than processes, processes share them instead of
    asking for a GPU that does not exist. An explicit ``cuda:1`` is kept.
    """
    device = requested if isinstance(requested, torch.device) else pick_device(requested)
    if processes.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", processes.local_rank % max(1, torch.cuda.device_count()))
    return device


def backend_for(device: torch.device, processes: Distributed) -> str:
    """``nccl`` when every process on this machine has a GPU of its own, else ``gloo``.

    NCCL refuses two ranks on one GPU; gloo runs the same collectives on CPUs
    and on shared GPUs, slower.
    """
    if device.type == "cuda" and torch.distributed.is_nccl_available() \
            and torch.cuda.device_count() >= processes.local_world_size:
        return "nccl"
    return "gloo"


def join(processes: Distributed, device: torch.device) -> None:
    """Join the other processes (torchrun's environment says where to meet); alone, do nothing."""
    import torch.distributed as dist

    if not processes.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend_for(device, processes), timeout=BARRIER_TIMEOUT)


def leave(processes: Distributed) -> None:
    """Leave the process group (the last call of a torchrun job)."""
    import torch.distributed as dist

    if processes.enabled and dist.is_initialized():
        dist.destroy_process_group()


def sum_over_processes(values: torch.Tensor, processes: Distributed) -> list[float]:
    """``values`` summed element by element over every process (alone: as they are), as floats."""
    if processes.enabled:
        import torch.distributed as dist

        dist.all_reduce(values)
    return values.tolist()


def worst_exit_code(code: int, processes: Distributed) -> int:
    """The largest exit code of all processes, known to every one (a barrier too: all have finished)."""
    if not processes.enabled:
        return code
    import torch.distributed as dist

    value = torch.tensor([code])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return int(value)


def barrier(processes: Distributed) -> None:
    if processes.enabled:
        import torch.distributed as dist

        dist.barrier()

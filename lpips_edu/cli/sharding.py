"""``compare`` on many processes: which pairs each rank computes, and the part file it writes.

From ``RANK`` and ``WORLD_SIZE`` alone (``lpips_edu.distributed``) every rank
knows its share:

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
from pathlib import Path

from ..distributed import Distributed


def shard(n_pairs: int, batch_size: int, processes: Distributed) -> range:
    """The contiguous block of pair indices this rank computes (cut at whole batches)."""
    batches = -(-n_pairs // batch_size)
    first, last = (batches * r // processes.world_size for r in (processes.rank, processes.rank + 1))
    return range(min(first * batch_size, n_pairs), min(last * batch_size, n_pairs))


def part_path(output: str | os.PathLike, processes: Distributed) -> Path:
    output = Path(output)
    return output.with_name(f"{output.name}.part{processes.rank}-of-{processes.world_size}")


def all_parts(output: str | os.PathLike, processes: Distributed) -> list[Path]:
    return [part_path(output, Distributed(r, processes.world_size)) for r in range(processes.world_size)]

"""Multi-process training with `torchrun` (DistributedDataParallel): detection, sharding and rank-0 writes.

A script started by ``torchrun --nproc_per_node N script.py`` sees ``RANK`` / ``WORLD_SIZE`` /
``LOCAL_RANK`` in its environment; :func:`init_distributed` then joins the process group (NCCL on GPU,
gloo on CPU). Without those variables everything here is a no-op for one process, so the same code runs
under plain ``python`` and under Snakemake's ``script:``.

Sharding keeps the **global** batch of the one-process recipe: each optimiser step draws the same global
batch indices as one process would, and rank ``r`` takes ``batch[r::world]`` (:func:`shard`). The loss of
a shard is weighted by its share of the global batch so that DDP's gradient average equals the gradient
of the one-process mean loss (up to floating-point summation order).
"""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
import sys
from collections.abc import Sequence

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def env_world_size() -> int:
    """WORLD_SIZE from the environment (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a one-process run): the only process that writes outputs."""
    return rank() == 0


def init_distributed(backend: str | None = None, timeout_min: float = 60.0) -> bool:
    """Join the process group when launched by torchrun (RANK and WORLD_SIZE set, WORLD_SIZE > 1).

    The backend is NCCL when CUDA is available, else gloo; on GPU each process takes ``cuda:LOCAL_RANK``.
    Returns True when running distributed."""
    if env_world_size() <= 1 or "RANK" not in os.environ:
        return False
    if is_distributed():
        return True
    use_cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_min))
    log.info("distributed: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), backend)
    return True


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()


def all_sum(value: float) -> float:
    """Sum of a number over the ranks (the number itself in a one-process run)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t)


def shard(indices: torch.Tensor | Sequence[int]) -> tuple[torch.Tensor | list[int], float]:
    """This rank's part of a global batch and the weight of its mean loss.

    Returns ``(indices[rank::world], len(shard) * world / len(indices))``: with DDP averaging gradients over
    the ranks, weighting each shard's mean loss by this factor gives the gradient of the global mean loss.
    An empty shard (a global batch smaller than the world) gets the batch's first index and weight 0, so every
    rank still runs forward/backward (DDP needs all ranks in every step)."""
    world, r = world_size(), rank()
    if world == 1:
        return indices, 1.0
    part = indices[r::world]
    if len(part) == 0:
        return indices[:1], 0.0
    return part, len(part) * world / len(indices)


def torchrun_command(script_args: Sequence[str], nproc: int, python: str = "python") -> list[str]:
    """The command line that runs ``script_args`` under torchrun with `nproc` processes on this node
    (one process per GPU; used by rules whose `resources` give more than one GPU)."""
    if nproc <= 1:
        return [python, *script_args]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *script_args]


def relaunch_under_torchrun(nproc: int) -> None:
    """Run this script again under torchrun with `nproc` processes and exit with its status, when `nproc` > 1,
    this process is not already a torchrun worker and enough GPUs are visible. A Snakemake `script:` calls
    it with the job's ``resources.gpu``, so a rule launches multi-GPU training with no change of its own."""
    if nproc <= 1 or "RANK" in os.environ or not torch.cuda.is_available() or torch.cuda.device_count() < nproc:
        return
    cmd = torchrun_command([sys.argv[0], *sys.argv[1:]], nproc, python=sys.executable)
    log.info("relaunching under torchrun: %s", " ".join(cmd))
    sys.exit(subprocess.call(cmd))

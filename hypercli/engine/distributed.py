"""Process groups under ``torchrun``: rank, world size, device, and metric reduction.

``torchrun --nproc-per-node N $(which hyper) train ...`` sets RANK, WORLD_SIZE and
LOCAL_RANK; hyper then joins the group (NCCL on GPUs, gloo on CPU) and trains with
DistributedDataParallel. Without those variables everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    from hypercli.errors import HyperError

    if name not in ("auto", "cpu", "cuda"):
        raise HyperError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise HyperError("device 'cuda' was asked for but no CUDA GPU is visible; "
                             "use --device cpu (or auto)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup(device: torch.device) -> Dist:
    """Join the torchrun process group if there is one (idempotent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local)


def all_reduce_sum(values: list[float], device: torch.device, d: Dist) -> list[float]:
    """Sum floats over ranks (identity in one process)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()

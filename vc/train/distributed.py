"""Multi-process data-parallel training with torch.distributed, started by ``torchrun``.

``torchrun --nproc_per_node N $(which vc-train) CONF`` sets RANK/WORLD_SIZE/LOCAL_RANK; we join the
process group (nccl on GPU, gloo on CPU), give each rank its own slice of every batch, and average
gradients across ranks after each backward pass with an all-reduce, which is what
DistributedDataParallel does. We call the collective ourselves rather than wrapping the nets in
``DistributedDataParallel`` because a GAN step runs each net several times and through methods other
than ``forward`` (style encoder on the fake, discriminator classifier head), which DDP's forward
hooks would not see. Logging, samples and checkpoints happen on rank 0 only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op for a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def average_gradients(modules, info: DistInfo) -> None:
    """All-reduce (mean) the gradients of ``modules`` across ranks, one flat buffer per module."""
    if not info.enabled:
        return
    for module in modules:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            continue
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= info.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def broadcast_parameters(modules, info: DistInfo) -> None:
    """Start every rank from rank 0's weights."""
    if not info.enabled:
        return
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def all_true(flag: bool, info: DistInfo, device: torch.device | str = "cpu") -> bool:
    """True on every rank only if ``flag`` is true on every rank (keeps the NaN guard in lockstep)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def check_in_sync(modules, info: DistInfo, device: torch.device | str = "cpu") -> bool:
    """True when every rank holds the same weights (compares a checksum of all parameters)."""
    if not info.enabled:
        return True
    with torch.no_grad():
        total = sum(p.double().sum() + p.double().abs().sum() for m in modules for p in m.parameters())
    lo = torch.tensor([float(total)], dtype=torch.float64, device=device)
    hi = lo.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return bool(torch.isclose(lo, hi, rtol=1e-9, atol=0.0).all())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()

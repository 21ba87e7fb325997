"""Which process this is in a distributed training run: rank, world size, and whether it writes.

A training stage launched on several processes (rungs.pipeline starts them with torchrun) runs the same
code on every rank; only rank 0 writes checkpoints and the artifact. In a one-process run this is rank 0
of a world of one.
"""

from __future__ import annotations


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True in a one-process run and on rank 0: the process that writes checkpoints and artifact files."""
    return rank() == 0

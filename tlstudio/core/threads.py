"""How many CPU threads a small model's training steps get.

A step of a small head on stored features is a few tiny matmuls: with more
than one intra-op thread each op pays a thread synchronisation that costs
more than the op (measured up to 40x slower on a busy 2-core machine, where
OpenMP barriers wait for a core that is running something else). Above
``SMALL_STEP_FLOPS`` a step is worth splitting (1.6x faster on 2 idle cores).
"""
from __future__ import annotations

import contextlib

import torch

SMALL_STEP_FLOPS = 50e6     # per training step (forward + backward), below which one thread trains


def threads_for_step(params: int, batch_size: int) -> int | None:
    """1 for a step of ``params`` weights on ``batch_size`` samples under ``SMALL_STEP_FLOPS``, else
    None (leave torch's setting)."""
    return 1 if 6 * int(params) * int(batch_size) < SMALL_STEP_FLOPS else None


@contextlib.contextmanager
def intra_op_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` (None: unchanged) inside the block."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n is not None:
            torch.set_num_threads(before)

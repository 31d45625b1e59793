"""Feature extraction shared by the ranks of a torchrun run; the cache entry is assembled once.

Every rank runs the frozen base over its own share of the samples (``Dist.shard``
of the extraction order: each sample on exactly one rank), then the rows travel
to rank 0 in chunks of at most ``CHUNK_BYTES`` per rank (so neither the GPU nor
the network holds the whole entry at once), and rank 0 writes the one cache
entry through ``FeatureCache.create`` (temporary folder, rename into place).

Only rank 0 keeps the entry: it alone fits the head on the features
(``trainer``: fitting a head on stored features takes seconds and gives the
same weights for the same seed, so doing it once and broadcasting the result
beats moving the whole entry to every rank). The other ranks need no
features; they receive the fitted head with ``Dist.broadcast_model``. With a
shared ``TLSTUDIO_CACHE_DIR`` a later run finds rank 0's entry on any node;
without one, rank 0's local cache is the one that counts, which is all the
run needs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from tlstudio.core.features.cache import CachedFeatures, FeatureCache

if TYPE_CHECKING:       # the caller (train/stage_data) passes its torchrun seam in
    from tlstudio.core.train.distributed import Dist

CHUNK_BYTES = 32 * 1024 ** 2

# extract(indices, out) runs the base over dataset items ``indices`` (in that order) and writes row k
# of ``out`` for the k-th; it returns how many samples went through the base.
ExtractFn = Callable[[Sequence[int], np.ndarray], int]


def cache_hit(dist: Dist, cache: FeatureCache, key: str) -> tuple[CachedFeatures | None, bool]:
    """(rank 0's stored entry, None on the other ranks; whether rank 0 found one), on every rank."""
    entry = cache.load(key) if dist.is_main else None
    return entry, bool(dist.broadcast_object(entry is not None))


def build_sharded_entry(dist: Dist, cache: FeatureCache, key: str, *, order: Sequence[int], dim: int,
                extract: ExtractFn, create: Callable[[Callable[[np.ndarray], None]], CachedFeatures]
                ) -> tuple[CachedFeatures | None, int]:
    """Extract this rank's share, gather all shares on rank 0, which stores the entry.

    ``order``: every dataset index once (entry row = dataset index). ``create(fill)``
    makes the entry on rank 0 (``FeatureCache.create`` with the entry's shape).
    Returns (the entry on rank 0, else None; the samples this rank ran through the base).
    """
    mine = dist.shard(order)
    local = np.zeros((len(mine), dim), dtype=np.float16)
    forwards = extract(mine, local)
    if dist.is_main:
        entry = create(lambda rows: _gather_into(dist, local, order, rows))
    else:
        _gather_into(dist, local, order, None)
        entry = None
    dist.barrier()      # the entry is in place before any rank goes on
    return entry, forwards


def _gather_into(dist: Dist, local: np.ndarray, order: Sequence[int], rows: np.ndarray | None) -> None:
    """Send ``local`` (this rank's rows) to rank 0, which writes every rank's rows into ``rows``."""
    world = dist.world_size
    if not dist.active:       # alone: the one share is every row
        rows[np.asarray(list(order), dtype=np.int64)] = local
        return
    shares = [list(order[r::world]) for r in range(world)]
    longest = max(len(s) for s in shares)
    dim = local.shape[1]
    step = max(1, CHUNK_BYTES // max(1, dim * 2))
    device = dist.comm_device
    for start in range(0, longest, step):
        size = min(step, longest - start)
        piece = torch.zeros((size, dim), dtype=torch.float16)
        mine = local[start:start + size]
        piece[:mine.shape[0]] = torch.from_numpy(mine)
        piece = piece.to(device)
        inbox = [torch.empty_like(piece) for _ in range(world)] if dist.is_main else None
        torch.distributed.gather(piece, inbox, dst=0)
        if rows is None:
            continue
        for r, got in enumerate(inbox):
            targets = shares[r][start:start + size]
            if targets:       # shorter shares were padded for the transfer only
                rows[np.asarray(targets, dtype=np.int64)] = got[:len(targets)].cpu().numpy()

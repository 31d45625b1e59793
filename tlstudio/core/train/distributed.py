"""Training on several processes under ``torchrun``: the one seam, inert without it.

``torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m
tlstudio.cli train ...`` starts N x M copies of the CLI, each told its place
by environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``, ``TORCHELASTIC_RESTART_COUNT``).
``init_from_env`` reads them and joins the process group: NCCL when the
run trains on CUDA, Gloo on the CPU. Without those variables (the GUI, a
plain CLI run, the tests of one process) nothing is initialised and
``current()`` returns ``SINGLE``: rank 0 of 1, whose collectives are no-ops,
so the trainer runs one code path whatever the world size.

Who does what (the trainer and stage data ask ``Dist``; see ``docs/scaling.md``):

- rank 0 alone owns the run folder (lock, checkpoints, events, metrics) and
  the feature cache entry; the other ranks write nothing and print nothing but errors;
- feature extraction is sharded (``features/sharded.py``), stage-2 fine-tuning
  (and any stage that runs the base) uses DDP (``distributed_stage``);
- validation counts are summed across ranks, so the reported accuracy is on the
  whole validation split.
"""
from __future__ import annotations

import copy
import datetime
import os
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import torch
from torch import nn

from tlstudio.core.errors import TLStudioError, TrainingError

T = TypeVar("T")
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = datetime.timedelta(minutes=30)    # a rank that waits longer on the others gives up


def _env_int(name: str, default: int = 0) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.lstrip("-").isdigit() else default


def launched() -> bool:
    """Whether torchrun (or another launcher) started this process as one of several."""
    return _env_int("WORLD_SIZE", 1) > 1 and all(name in os.environ for name in LAUNCH_VARS)


def restart_count() -> int:
    """How many times torchrun restarted the workers (``--max-restarts``); 0 on the first attempt."""
    return _env_int("TORCHELASTIC_RESTART_COUNT", 0)


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: rank ``rank`` of ``world_size``; ``backend`` None when alone."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- devices ------------------------------------------------------------------
    def device_for(self, device: torch.device) -> torch.device:
        """A CUDA device becomes this rank's own GPU (``cuda:LOCAL_RANK``); others stay as they are."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    @property
    def comm_device(self) -> torch.device:
        """Where tensors must be for collectives: this rank's GPU under NCCL, else the CPU."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    # -- collectives (no-ops alone) ----------------------------------------------------
    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled)."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather_object(self, obj) -> list:
        """Every rank's ``obj``, in rank order."""
        if not self.active:
            return [obj]
        out: list = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over ranks (float64)."""
        if not self.active:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.comm_device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return [float(v) for v in t.cpu()]

    def weighted_mean(self, means: Sequence[float], count: int) -> tuple[list[float], int]:
        """Means over all ranks' samples, from each rank's ``means`` over its ``count`` samples."""
        if not self.active:
            return [float(m) for m in means], int(count)
        local = [float(m) * count if count else 0.0 for m in means]
        sums = self.sum(local + [float(count)])
        total = int(round(sums[-1]))
        return [s / total if total else float("nan") for s in sums[:-1]], total

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only; every rank returns its result or raises its error.

        A rank-0 error that the user must read (a refused resume, a folder in use)
        ends every rank the same way instead of leaving the others waiting.
        """
        if not self.active:
            return fn()
        result, failure = None, None
        if self.is_main:
            try:
                result = fn()
            except Exception as exc:     # noqa: BLE001 - shared below, re-raised here unchanged
                failure = exc
        shared = self.broadcast_object((result, None if failure is None else (type(failure), str(failure))))
        if failure is not None:
            raise failure
        result, error = shared
        if error is not None:
            kind, message = error
            raise kind(message) if isinstance(kind, type) and issubclass(kind, TLStudioError) else \
                TrainingError(f"Rank 0 failed: {kind.__name__}: {message}")
        return result

    # -- work split ---------------------------------------------------------------------
    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: every ``world_size``-th one from position ``rank``.

        Each item goes to exactly one rank (no padding duplicates); shares differ by at
        most one item. Strided rather than contiguous so a length-sorted text order
        gives every rank short and long texts alike.
        """
        return list(items[self.rank::self.world_size])

    def broadcast_model(self, model: nn.Module) -> None:
        """Rank 0's head (a head search may have changed its layers) and every tensor, on all ranks."""
        if not self.active:
            return
        device = next(model.parameters()).device
        head = self.broadcast_object(copy.deepcopy(model.head).cpu() if self.is_main else None)
        if not self.is_main:
            model.head = head.to(device)
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if self.backend == "nccl" and tensor.device.type != "cuda":
                    staged = tensor.to(self.comm_device)
                    torch.distributed.broadcast(staged, src=0)
                    tensor.copy_(staged)
                else:
                    torch.distributed.broadcast(tensor, src=0)


SINGLE = Dist()


def current() -> Dist:
    """This process's ``Dist``: from the initialised process group, else ``SINGLE``."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return SINGLE
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(),
                local_rank=_env_int("LOCAL_RANK", 0), backend=str(dist.get_backend()))


def init_from_env(use_cuda: bool) -> Dist:
    """Join torchrun's process group (NCCL when ``use_cuda``, else Gloo); ``SINGLE`` when not launched."""
    dist = torch.distributed
    if not launched() or not dist.is_available():
        return SINGLE
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
        # torchrun keeps its store across elastic restarts: keys of this attempt get their own prefix,
        # so a restarted rank never reads the address a dead rank of an earlier attempt published.
        store, rank, world_size = next(dist.rendezvous("env://", timeout=TIMEOUT))
        store = dist.PrefixStore(f"tlstudio/attempt-{restart_count()}", store)
        dist.init_process_group("nccl" if use_cuda else "gloo", store=store, rank=rank, world_size=world_size,
                                timeout=TIMEOUT)
    return current()


def shutdown() -> None:
    """Leave the process group (if this process joined one), once every rank has got here: rank 0
    hosts the store, and a rank still using it when rank 0 tore it down aborted at exit ("terminate
    called without an active exception", seen once in a few runs of the two-rank CLI test)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 - a rank already gone: leave anyway
            pass
        dist.destroy_process_group()


class NoWrites:
    """The checkpoint writer of a rank other than 0: same calls, nothing written (rank 0 writes)."""

    def __init__(self, model_info: dict):
        self.model_info = model_info

    def offer_best(self, *args, **kwargs) -> None:
        pass

    def offer_last(self, *args, **kwargs) -> None:
        pass

    def maybe_flush(self) -> None:
        pass

    def flush(self) -> None:
        pass

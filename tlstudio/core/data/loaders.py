"""DataLoaders for training and feature extraction, and the seeded image dataset.

``make_loader``, ``ThreadedLoader``, ``EpochOrder``, ``to_device`` and
``pin`` work on any batch a modality's collate function makes: a tensor, or
a dict/list/tuple of tensors. ``SeededImages`` is the image modality's
dataset.

Decoding overlaps compute through DataLoader workers. Random augmentation is
seeded per (image, round) rather than by the worker's RNG, so a given view of
an image is the same whatever the number of workers, and the trainer's global
RNG is never disturbed by decoding in the main process.
"""
from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from tlstudio.core.data.images import load_image_rgb

# Items below this count are decoded in the main process: starting workers
# costs more than it saves.
MIN_ITEMS_FOR_WORKERS = 128
# Decoding processes at most when a GPU runs the model (each holds a copy of the dataset's list).
MAX_ACCELERATOR_WORKERS = 8
_GLOBAL_RNG_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageItem:
    path: str
    label: int
    transform: int = 0          # index into the dataset's transform list
    seed: int | None = None     # None: the transform is deterministic


def item_seed(seed: int, index: int, round_: int = 0) -> int:
    """A stable per-(image, round) seed, independent of workers and order."""
    return (int(seed) * 1_000_003 + int(index) * 7_919 + int(round_) * 104_729) % (2 ** 63)


class SeededImages(Dataset):
    """Index ``k`` is item ``k % n`` in augmentation round ``k // n``.

    A round is an epoch (uncached training) or a cached view; seeding each
    item from (its seed, round) makes every view reproducible.
    """

    def __init__(self, items: Sequence[ImageItem], transforms: Sequence[Callable], rounds: int = 1):
        self.items = list(items)
        self.transforms = list(transforms)
        self.rounds = int(rounds)

    def __len__(self) -> int:
        return len(self.items) * self.rounds

    def __getitem__(self, k: int):
        n = len(self.items)
        item = self.items[k % n]
        image = load_image_rgb(item.path)
        transform = self.transforms[item.transform]
        if item.seed is None:
            return transform(image), item.label
        s = item_seed(item.seed, k % n, k // n)
        # The seeded transform borrows the global RNGs: decode threads (ThreadedLoader)
        # take turns here so views stay reproducible; decoding above runs in parallel.
        with _GLOBAL_RNG_LOCK:
            state = random.getstate()
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(s)
                    random.seed(s)
                    x = transform(image)
            finally:
                random.setstate(state)
        return x, item.label


class EpochOrder(Sampler[int]):
    """Yields a fixed order (a permutation of 0..n-1) shifted into a given round."""

    def __init__(self, n: int):
        self.n = n
        self.order: list[int] = list(range(n))
        self.round = 0

    def set(self, order: Sequence[int], round_: int) -> None:
        self.order = [int(i) for i in order]
        self.round = int(round_)

    def __iter__(self) -> Iterator[int]:
        offset = self.round * self.n
        return iter([i + offset for i in self.order])

    def __len__(self) -> int:
        return len(self.order)


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_workers(n_items: int, device_type: str = "cpu") -> int:
    """Worker processes for decoding: ``TLSTUDIO_LOADER_WORKERS``, else min(2, CPUs) when the model
    runs on the CPU (it competes with the decoders for the cores), else all CPUs but one, at most
    ``MAX_ACCELERATOR_WORKERS``: a GPU waits for decoding otherwise (H200, EfficientNet-Lite0 at
    224 px: two workers fed stage 2 at 422 images/s where the GPU can take ~730 and more)."""
    env = os.environ.get("TLSTUDIO_LOADER_WORKERS")
    if env is not None and env.strip().isdigit():
        return int(env)
    if n_items < MIN_ITEMS_FOR_WORKERS:
        return 0
    cpus = usable_cpus()
    if device_type == "cpu":
        return min(2, cpus)
    return max(min(2, cpus), min(MAX_ACCELERATOR_WORKERS, cpus - 1))


def to_device(batch: Any, device: torch.device, *, channels_last: bool = False) -> Any:
    """``batch`` (a tensor, or a dict/list/tuple of them) on ``device``; 4-D tensors optionally channels_last."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last=channels_last) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, channels_last=channels_last) for v in batch)
    return batch


def pin(batch: Any) -> Any:
    """``batch`` with every tensor in pinned memory (faster host-to-GPU copies)."""
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory()
    if isinstance(batch, dict):
        return {k: pin(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(pin(v) for v in batch)
    return batch


class ThreadedLoader:
    """Batches decoded by a thread pool, for loaders made off the main thread.

    Forking DataLoader worker processes from a worker thread of a
    multi-threaded program (the GUI runs the trainer in a QThread) can
    deadlock or kill the workers. PIL decoding and the tensor transforms
    release the GIL, so threads overlap decoding with compute just as well.
    """

    def __init__(self, dataset: Dataset, batch_size: int, sampler: Sampler | None, threads: int,
                 pin_memory: bool = False, prefetch_batches: int = 4, collate: Callable | None = None):
        self.dataset, self.batch_size, self.sampler = dataset, batch_size, sampler
        self.threads, self.pin_memory, self.prefetch = max(1, threads), pin_memory, prefetch_batches
        self.collate = collate or default_collate

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return (n + self.batch_size - 1) // self.batch_size

    def _batch(self, indices: list[int]):
        batch = self.collate([self.dataset[i] for i in indices])
        return pin(batch) if self.pin_memory else batch

    def __iter__(self):
        order = list(self.sampler) if self.sampler is not None else list(range(len(self.dataset)))
        chunks = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        with ThreadPoolExecutor(self.threads, thread_name_prefix="tlstudio-decode") as pool:
            pending = [pool.submit(self._batch, c) for c in chunks[:self.prefetch]]
            next_chunk = len(pending)
            try:
                while pending:
                    batch = pending.pop(0).result()
                    if next_chunk < len(chunks):
                        pending.append(pool.submit(self._batch, chunks[next_chunk]))
                        next_chunk += 1
                    yield batch
            finally:        # a consumer that stops early (cancel) drops what is queued
                for future in pending:
                    future.cancel()


def make_loader(dataset: Dataset, batch_size: int, *, sampler: Sampler | None = None,
                num_workers: int = 0, pin_memory: bool = False, persistent: bool = False,
                collate: Callable | None = None):
    """Batches of ``dataset`` in ``sampler``'s order; ``collate`` (default: stack) makes a batch of items."""
    if num_workers > 0 and threading.current_thread() is not threading.main_thread():
        return ThreadedLoader(dataset, batch_size, sampler, num_workers, pin_memory, collate=collate)
    kwargs = {}
    if num_workers > 0:
        kwargs.update(prefetch_factor=4, persistent_workers=persistent)
    # A private generator: starting an iterator then never draws from the global RNG
    # (which the head's dropout uses), so cached and image training stay in step.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False,
                      num_workers=num_workers, pin_memory=pin_memory, collate_fn=collate,
                      generator=torch.Generator().manual_seed(0), **kwargs)

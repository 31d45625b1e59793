"""FeatureCache: the frozen base's pooled features, computed once and kept on disk.

When nothing below the head trains, ``base(x)`` for a given sample (and a given
augmented view of it) never changes, so running it every epoch is wasted
work. The trainer extracts the features once, stores them here as float16,
and trains the head on the stored rows.

An entry lives in ``cache_dir()/features/<key>/`` as ``features.npy`` (rows:
view 0 of every training image, view 1, ..., then the validation images) and
``meta.json``. The key is a sha256 over everything that decides the numbers:
the model name and library versions, a hash of every tensor of the base
(whatever the weights' source, the frozen base *is* its tensors), the feature
width, the preprocessing, augmentation preset, view count and seed, how it was
computed (device type, mixed precision), and the content identity of both
sample lists (the modality's ``sample_key``: an image's path, size and
modification time; a text's hash). Any change gives a new key; nothing is ever updated in
place. Entries are written to a temporary folder and renamed into place, read
back as a memory map (or into RAM when small), and the least recently used
ones are deleted beyond a size cap.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from tlstudio.core import atomic
from tlstudio.core import paths
from tlstudio.core.data.loaders import make_loader, to_device
from tlstudio.core.errors import TrainingError
from tlstudio.core.progress import JobState, Throttle, check, set_progress

FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 2 * 1024 ** 3
# Entries up to this size (as float16) are read fully into RAM, as float32 when that
# stays under FLOAT32_LIMIT_BYTES (no per-batch conversion); larger ones stay memory-mapped.
RAM_LIMIT_BYTES = 256 * 1024 ** 2
FLOAT32_LIMIT_BYTES = 128 * 1024 ** 2
STALE_TEMP_SECONDS = 3600


# --------------------------------------------------------------------------- keys

def base_fingerprint(base: nn.Module) -> str:
    """sha256 of every tensor (parameters and buffers) of ``base``, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(base.state_dict().items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{t.dtype}|{tuple(tensor.shape)}|".encode())
        if t.numel():
            digest.update(t.view(torch.uint8).numpy().data)
    return digest.hexdigest()


def cache_key(parts: dict) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def library_versions(modality) -> dict:
    """torch's version and those of the libraries that read ``modality``'s inputs."""
    return {"torch": torch.__version__.split("+")[0], **modality.library_versions()}


def split_identity(samples: Sequence, modality) -> list:
    """The content identity of ``samples`` (files, texts) with their labels, for a cache key."""
    return [modality.sample_key(s) for s in samples]


def base_key_parts(model, pre, modality, compute: dict) -> dict:
    """The part of a cache key that names the frozen base and how inputs reach it: the model, a hash
    of the base's tensors, the feature width, the preprocessing, the libraries, and ``compute``
    (device type, autocast dtype, channels_last). Callers add what selects the rows."""
    base = model.base
    return {"model": model.model_name, "base_class": type(base).__name__, "base_tensors": base_fingerprint(base),
            "feature_dim": int(model.feature_dim), "preprocessing": pre.to_dict(), "compute": dict(compute),
            "libraries": library_versions(modality)}


# --------------------------------------------------------------------------- entries

@dataclass
class CachedFeatures:
    """One cache entry: ``views`` training views of ``n_train`` rows, then ``n_val`` rows.

    ``rows`` is a float16 memory map, or a tensor (float16, or float32 when small) in RAM.
    """

    key: str
    folder: Path
    rows: np.ndarray | torch.Tensor      # [views * n_train + n_val, dim], float16
    views: int
    n_train: int
    n_val: int

    @property
    def feature_dim(self) -> int:
        return int(self.rows.shape[1])

    @property
    def in_memory(self) -> bool:
        return isinstance(self.rows, torch.Tensor)

    def train_view(self, view: int):
        start = (view % self.views) * self.n_train
        return self.rows[start:start + self.n_train]

    def val_rows(self):
        start = self.views * self.n_train
        return self.rows[start:start + self.n_val]

    def to(self, device: torch.device) -> "CachedFeatures":
        """Move in-memory rows to ``device`` once (so head training never copies per batch)."""
        if self.in_memory:
            self.rows = self.rows.to(device)
        return self


def gather_rows(rows, index: torch.Tensor) -> torch.Tensor:
    """float32 rows at ``index`` from a tensor or a memory map (only those rows are read)."""
    if isinstance(rows, torch.Tensor):
        return rows[index.to(rows.device)].to(torch.float32)
    return torch.from_numpy(np.asarray(rows[index.cpu().numpy()], dtype=np.float32))


class FeatureCache:
    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root) if root is not None else paths.cache_dir() / "features"
        self.max_bytes = int(max_bytes)

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> CachedFeatures | None:
        """The stored entry, or None. A damaged entry is deleted, so the next ``create`` rebuilds it."""
        folder = self.entry_dir(key)
        if not folder.is_dir():
            return None
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            views, n_train, n_val = int(meta["views"]), int(meta["n_train"]), int(meta["n_val"])
            rows = np.load(folder / "features.npy", mmap_mode="r")
            valid = rows.dtype == np.float16 and rows.ndim == 2 and rows.shape[0] == views * n_train + n_val
        except (OSError, ValueError, KeyError, TypeError, AttributeError):    # unreadable or truncated
            valid = False
        if not valid:
            # Entries are renamed into place complete, so a bad one is damaged (a crash, a full
            # disk, an edit), never half-written by a live writer: discard it.
            rows = None
            shutil.rmtree(folder, ignore_errors=True)
            return None
        if rows.nbytes <= RAM_LIMIT_BYTES:
            rows = torch.from_numpy(np.array(rows))
            if rows.numel() * 4 <= FLOAT32_LIMIT_BYTES:
                rows = rows.float()
        self._touch(folder)
        return CachedFeatures(key, folder, rows, views, n_train, n_val)

    def create(self, key: str, *, views: int, n_train: int, n_val: int, dim: int, meta: dict,
               fill: Callable[[np.ndarray], None]) -> CachedFeatures:
        """Make an entry: ``fill`` writes every row of a float16 memory map; then rename into place.

        If ``fill`` raises (cancel, error), the temporary folder is removed and nothing is stored.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            rows = np.lib.format.open_memmap(tmp / "features.npy", mode="w+", dtype=np.float16,
                                             shape=(views * n_train + n_val, dim))
            reserve_disk_space(tmp / "features.npy")
            fill(rows)
            rows.flush()
            del rows
            atomic.write_json(tmp / "meta.json", {"format": FORMAT_VERSION, "key": key, "views": views,
                                                  "n_train": n_train, "n_val": n_val, "dim": dim,
                                                  "created": time.time(), **meta})
            try:
                os.rename(tmp, self.entry_dir(key))
            except OSError:
                # Another process stored the same key first: its entry is identical, use it;
                # a damaged one is discarded by load() and replaced by this one.
                if self.load(key) is None:
                    os.rename(tmp, self.entry_dir(key))
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self.prune(keep=(key,))
        entry = self.load(key)
        if entry is None:
            raise OSError(f"The feature cache entry {key[:12]} could not be read back.")
        return entry

    # -- housekeeping ---------------------------------------------------------
    def entries(self) -> list[tuple[Path, int, float]]:
        """(folder, bytes, last used) for each stored entry."""
        out = []
        if not self.root.is_dir():
            return out
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            try:
                used = (folder / "meta.json").stat().st_mtime
            except OSError:
                used = 0.0
            out.append((folder, size, used))
        return out

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def prune(self, keep: Iterable[str] = ()) -> list[str]:
        """Delete least recently used entries until the cache fits ``max_bytes``; return deleted keys."""
        keep = set(keep)
        now = time.time()
        for folder in self.root.glob(".tmp-*"):     # left by a crash mid-extraction
            try:
                if now - folder.stat().st_mtime > STALE_TEMP_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(size for _, size, _ in entries)
        deleted = []
        for folder, size, _ in entries:
            if total <= self.max_bytes:
                break
            if folder.name in keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            deleted.append(folder.name)
        return deleted

    @staticmethod
    def _touch(folder: Path) -> None:
        try:
            os.utime(folder / "meta.json")
        except OSError:
            pass


def reserve_disk_space(path: Path) -> None:
    """Back a freshly created (sparse) memory-mapped file with real disk blocks.

    Writing into a memory map whose file cannot grow on a full disk kills the
    process with SIGBUS and no message; reserving the blocks first turns that into
    a clear error before any work is done.
    """
    size = path.stat().st_size
    try:
        with open(path, "r+b") as fh:
            os.posix_fallocate(fh.fileno(), 0, size)
        return
    except AttributeError:      # no posix_fallocate on this platform: compare with the free space
        pass
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise _disk_full(path, size) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    if shutil.disk_usage(path.parent).free < size:
        raise _disk_full(path, size)


def _disk_full(path: Path, size: int) -> TrainingError:
    free = shutil.disk_usage(path.parent).free
    return TrainingError(f"Not enough disk space for the feature cache in {path.parent.parent}: it needs "
                         f"{size / 1e6:.0f} MB and {free / 1e6:.0f} MB are free. Free some space, set "
                         "TLSTUDIO_CACHE_DIR to a larger disk, or turn the feature cache off.")


# --------------------------------------------------------------------------- extraction

RateFn = Callable[[int, int, float, float], None]     # done, total, samples/s, eta seconds (for events)


def extract_features(base: nn.Module, batches: Iterable, out: np.ndarray, *, device: torch.device,
                     autocast_dtype: torch.dtype | None = None, channels_last: bool = False,
                     on_rate: RateFn | None = None, job: JobState | None = None,
                     progress_interval: float = 0.1, positions: Sequence[int] | None = None) -> int:
    """Run ``base`` over ``batches`` of (inputs, labels), writing float16 rows into ``out`` in order.

    ``positions``: the row of ``out`` for each sample in the order the batches give them
    (batches sorted by length, say); None: row ``k`` for the ``k``-th sample.

    ``inputs`` is what the modality's collate makes (a tensor, or a dict of
    tensors). ``check(job)`` runs between batches (cancel, pause) and ``set_progress(job, done,
    total)`` after each; ``on_rate`` (at most once per ``progress_interval``) also gets the
    samples per second and the ETA, for events. Returns the number of samples run through the base.
    """
    total = int(out.shape[0])
    was_training = base.training
    base.eval()
    done, start = 0, time.perf_counter()
    gate = Throttle(progress_interval)
    try:
        with torch.inference_mode():
            for inputs, _labels in batches:
                check(job)
                inputs = to_device(inputs, device, channels_last=channels_last)
                if autocast_dtype is not None:
                    with torch.autocast(device.type, dtype=autocast_dtype):
                        feats = base(inputs)
                else:
                    feats = base(inputs)
                n = feats.shape[0]
                rows = feats.reshape(n, -1).to(torch.float16).cpu().numpy()
                if positions is None:
                    out[done:done + n] = rows
                else:
                    out[np.asarray(positions[done:done + n], dtype=np.int64)] = rows
                done += n
                set_progress(job, done, total)
                if on_rate is not None and gate.due(final=done >= total):
                    now = time.perf_counter()
                    rate = done / max(now - start, 1e-9)
                    on_rate(done, total, rate, (total - done) / rate if rate > 0 else 0.0)
    finally:
        base.train(was_training)
    if done != total:
        raise RuntimeError(f"Feature extraction produced {done} rows for {total} images.")
    return done


def build_entry(cache: FeatureCache, key: str, dataset, modality, base: nn.Module, *, views: int, n_train: int,
                n_val: int, dim: int, meta: dict, device: torch.device, batch_size: int, num_workers: int = 0,
                autocast_dtype: torch.dtype | None = None, channels_last: bool = False,
                on_rate: RateFn | None = None, job: JobState | None = None,
                progress_interval: float = 0.1) -> tuple[CachedFeatures, int]:
    """Run ``base`` over every item of ``dataset`` (in the modality's batch order) into a new entry.

    Returns the entry and the number of samples run through the base. The base is moved to
    ``device`` (and to channels_last memory when asked); restoring its layout is the caller's.
    """
    order = modality.batch_order(dataset)      # text: by length, so batches pad little
    loader = make_loader(dataset, batch_size, sampler=order, num_workers=num_workers,
                         pin_memory=device.type == "cuda", collate=modality.collate)
    base.to(device)
    if channels_last:
        base.to(memory_format=torch.channels_last)
    forwards = [0]

    def fill(rows) -> None:
        forwards[0] += extract_features(base, loader, rows, device=device, autocast_dtype=autocast_dtype,
                                        channels_last=channels_last, on_rate=on_rate, job=job,
                                        progress_interval=progress_interval, positions=order)

    entry = cache.create(key, views=views, n_train=n_train, n_val=n_val, dim=dim, meta=meta, fill=fill)
    return entry, forwards[0]

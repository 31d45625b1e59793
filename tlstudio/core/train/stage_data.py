"""Where a training stage gets its batches: the feature cache or the modality's datasets.

Also holds the per-run compute choices (device, mixed precision,
channels_last) so feature extraction and training agree on them. It reads
samples only through the run's ``Modality`` and reports only through the
run's ``RunState``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import ConcatDataset

from tlstudio.core.task_types import SingleLabelTask
from tlstudio.core.model.layers import count_params
from tlstudio.core import events as ev
from tlstudio.core.features.cache import (FeatureCache, base_key_parts, build_entry, cache_key,
                                          extract_features, split_identity)
from tlstudio.core.data.loaders import auto_workers, make_loader, usable_cpus
from tlstudio.core.train.loop import FeatureBatches, RunState, SampleBatches
from tlstudio.core.train.distributed_stage import ShardedSampleBatches
from tlstudio.core.features.sharded import build_sharded_entry, cache_hit

EXTRACTION_BATCH_SIZE = 64
# On the CPU a forward pass already keeps every core busy: smaller batches stay in cache, and decoding
# workers only compete with it on a machine of few cores (400 images at 128 px on 2 cores: 3.3 s with
# batches of 32 in the main process, 3.9 s with 64 and two decoding workers; mean of 2-4 runs).
CPU_EXTRACTION_BATCH_SIZE = 32
FEW_CORES = 2


def extraction_batch_size(device: torch.device) -> int:
    return CPU_EXTRACTION_BATCH_SIZE if device.type == "cpu" else EXTRACTION_BATCH_SIZE


def extraction_workers(device: torch.device, n_items: int, explicit: int | None = None) -> int:
    """Decoding workers for a feature-extraction pass: the user's number, else none on a CPU of few
    cores, else ``auto_workers``."""
    if explicit is not None:
        return int(explicit)
    if device.type == "cpu" and usable_cpus() <= FEW_CORES:
        return 0
    return auto_workers(n_items, device.type)


def autocast_dtype_for(device: torch.device, amp: bool) -> torch.dtype | None:
    """Mixed precision on CUDA only: bfloat16 where supported (no loss scaling needed), else float16."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class StageData:
    """Batch sources for the stages of one run.

    ``run`` is the run's state (its device must be set), ``modality`` reads
    the samples, ``training`` is the Project's training settings and
    ``augment`` its augmentation preset.
    """

    def __init__(self, run: RunState, modality, split, pre, model: nn.Module, training, augment: str,
                 kind: SingleLabelTask | None = None):
        self.run = run
        self.kind = kind if kind is not None else SingleLabelTask(0)     # task_types: the samples' targets
        self.modality = modality
        self.split = split
        self.pre = pre
        self.model = model
        self.training = training
        self.device: torch.device = run.device
        self.autocast_dtype = autocast_dtype_for(self.device, bool(training.amp))
        has_conv = any(isinstance(m, nn.Conv2d) for m in model.base.modules())
        self.channels_last = bool(training.channels_last and self.device.type == "cuda" and has_conv)
        # Inference-only extraction also gains on CPU (oneDNN): measured 1.65x for
        # EfficientNet-Lite0 and 1.35x for ResNet-18 at 224 px on a 2-core machine.
        self.extract_channels_last = bool(training.channels_last and self.device.type in ("cpu", "cuda")
                                          and has_conv)
        self.augment = str(augment).lower()
        self._features: FeatureBatches | None = None
        self._samples: SampleBatches | None = None
        self._entry = None          # the cache entry, once prepare_cache() has made or found it

    def prepare_cache(self) -> None:
        """Make (or find) the stage-1 cache entry now; under torchrun every rank takes part."""
        self._entry = self._cached_entry()

    def _train_dataset(self, rounds: int = 1):
        return self.modality.train_dataset(self.pre, self.split.train, augment=self.augment,
                                           seed=int(self.training.seed), rounds=rounds)

    def _workers(self, n_items: int) -> int:
        if not self.modality.needs_workers:
            return 0
        if self.run.num_workers is not None:
            return self.run.num_workers
        return auto_workers(n_items, self.device.type)

    def _extraction_workers(self, n_items: int) -> int:
        if not self.modality.needs_workers:
            return 0
        return extraction_workers(self.device, n_items, self.run.num_workers)

    def source(self, stage: int, *, cached: bool, stage_epochs: int):
        """Batches for a stage; emits StageStarted (and extraction progress when the cache misses)."""
        t = self.training
        self.run.emit(ev.StageStarted(stage=stage, epochs=stage_epochs,
                                      trainable_params=int(count_params(self.model)[0]),
                                      cached_features=bool(cached)))
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if cached:
            if stage == 1:
                self.run.cached_features = True
            if self._features is None:
                entry = self._entry if self._entry is not None else self._cached_entry()
                self._features = FeatureBatches(entry, self.kind.targets(self.split.train),
                                                self.kind.targets(self.split.val), t.batch_size, self.device)
            return self._features
        if self._samples is None:
            train = self.kind.wrap_dataset(self._train_dataset(), self.split.train)
            val = self.kind.wrap_dataset(self.modality.eval_dataset(self.pre, self.split.val), self.split.val)
            workers, pin = self._workers(len(train)), self.device.type == "cuda"
            collate = self.kind.wrap_collate(self.modality.collate)
            if self.run.dist.active:          # torchrun: DDP, each rank its share of every global batch
                self._samples = ShardedSampleBatches(train, val, t.batch_size, workers=workers, pin_memory=pin,
                                                     collate=collate)
            else:
                self._samples = SampleBatches(train, val, t.batch_size, workers=workers, pin_memory=pin,
                                              collate=collate, arrange=self._arrange(train))
        return self._samples

    def _arrange(self, train):
        """Each epoch's training order through the modality (text: length buckets), seeded per epoch."""
        modality, batch_size, seed = self.modality, int(self.training.batch_size), int(self.training.seed)

        def arrange(order: list[int], stage: int, epoch: int):
            return modality.batch_order(train, order, batch_size=batch_size,
                                        seed=seed * 1_000_003 + stage * 10_007 + epoch)
        return arrange

    def _cached_entry(self):
        t, modality = self.training, self.modality
        views = int(t.cache_views) if self.augment != "none" else 1
        compute = {"device": self.device.type, "autocast": str(self.autocast_dtype),
                   "channels_last": self.extract_channels_last}
        key = cache_key({
            **base_key_parts(self.model, self.pre, modality, compute),
            "augment": self.augment, "views": views, "seed": int(t.seed) if self.augment != "none" else None,
            "train": split_identity(self.split.train, modality), "val": split_identity(self.split.val, modality)})
        cache = FeatureCache()
        if self.run.dist.active:     # torchrun: each rank its share; rank 0 assembles and stores the entry
            return self._sharded_entry(cache, key, views)
        entry = cache.load(key)
        if entry is not None:
            return entry
        dataset = ConcatDataset([self._train_dataset(rounds=views), modality.eval_dataset(self.pre, self.split.val)])

        def on_rate(done: int, total_: int, rate: float, eta: float) -> None:
            self.run.emit(ev.FeatureExtractionProgress(done=done, total=total_, images_per_second=rate,
                                                       eta_seconds=eta))

        try:
            entry, forwards = build_entry(
                cache, key, dataset, modality, self.model.base, views=views, n_train=len(self.split.train),
                n_val=len(self.split.val), dim=int(self.model.feature_dim),
                meta={"model": self.model.model_name, "augment": self.augment}, device=self.device,
                batch_size=extraction_batch_size(self.device), num_workers=self._extraction_workers(len(dataset)),
                autocast_dtype=self.autocast_dtype, channels_last=self.extract_channels_last, on_rate=on_rate,
                job=self.run.job, progress_interval=self.run.progress_interval)
            self.run.base_forward_images += forwards
            return entry
        finally:
            if self.extract_channels_last and not self.channels_last:
                self.model.base.to(memory_format=torch.contiguous_format)     # training keeps the default layout

    def _sharded_entry(self, cache: FeatureCache, key: str, views: int):
        """The entry under torchrun: rank 0's (None on the other ranks, which need no features)."""
        dist, modality = self.run.dist, self.modality
        entry, hit = cache_hit(dist, cache, key)
        if hit:
            return entry
        n_train, n_val, dim = len(self.split.train), len(self.split.val), int(self.model.feature_dim)
        dataset = ConcatDataset([self._train_dataset(rounds=views), modality.eval_dataset(self.pre, self.split.val)])
        order = modality.batch_order(dataset)      # text: by length, so batches pad little
        order = list(range(len(dataset))) if order is None else list(order)
        base = self.model.base
        base.to(self.device)
        if self.extract_channels_last:
            base.to(memory_format=torch.channels_last)

        def extract(mine, out) -> int:
            loader = make_loader(dataset, extraction_batch_size(self.device), sampler=mine,
                                 num_workers=self._extraction_workers(len(mine)),
                                 pin_memory=self.device.type == "cuda", collate=modality.collate)

            def on_rate(done: int, total: int, rate: float, eta: float) -> None:
                # Rank 0 reports for all: the ranks' shares are equal to within one sample.
                w = dist.world_size
                self.run.emit(ev.FeatureExtractionProgress(done=min(done * w, len(dataset)), total=len(dataset),
                                                           images_per_second=rate * w, eta_seconds=eta))

            return extract_features(base, loader, out, device=self.device, autocast_dtype=self.autocast_dtype,
                                    channels_last=self.extract_channels_last, on_rate=on_rate,
                                    job=self.run.job, progress_interval=self.run.progress_interval)

        try:
            entry, forwards = build_sharded_entry(
                dist, cache, key, order=order, dim=dim, extract=extract,
                create=lambda fill: cache.create(key, views=views, n_train=n_train, n_val=n_val, dim=dim,
                                                 meta={"model": self.model.model_name, "augment": self.augment},
                                                 fill=fill))
            self.run.base_forward_images += forwards
            return entry
        finally:
            if self.extract_channels_last and not self.channels_last:
                base.to(memory_format=torch.contiguous_format)     # training keeps the default layout

    def close(self) -> None:
        for source in (self._features, self._samples):
            if source is not None:
                source.close()
        self._features = self._samples = None

"""Frozen features of every labelled sample of a Project, extracted once through the feature cache.

``collect_features`` scans the project's data (with its curation applied),
splits it as training would, builds the project's model cut at its features,
and runs the frozen base over all labelled samples with evaluation
preprocessing (no augmentation). The rows are stored in the ``FeatureCache``
under the same key a training run without augmentation uses for its train and
validation rows, so features a run has already extracted (on the same device
settings) are reused, and a second call runs no sample through the base.

With ``include_pool=True`` (the audit) the unlabeled pool's rows follow the
labelled ones, with label ``UNLABELED`` (-1) and split ``"pool"``, so the
duplicates and outliers cover them; a dataset may then have no labels at all.
When the data has a pool, every row then comes from the one label-free entry
over every scanned sample that Label next reads too (``label_free_rows``), so
an audit and a Label-next ranking run each sample through the base once.
Without it (curves, the embedding map) a dataset needs labels
(``index.require_labels``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.index import UNLABELED, Sample, require_labels, sample_keys, split_dataset
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import DatasetError
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.progress import JobState
from tlstudio.core.features.cache import (FeatureCache, base_key_parts, build_entry, cache_key,
                                          split_identity)
from tlstudio.core.train.stage_data import autocast_dtype_for, extraction_batch_size, extraction_workers
from tlstudio.core.model.build import create_transfer_model

SPLIT_NAMES = ("train", "val", "test")
POOL_SPLIT = "pool"           # DatasetFeatures.splits of an unlabeled sample (include_pool=True)


@dataclass
class DatasetFeatures:
    """Features of all labelled samples, in split order (train, then val, then test).

    ``keys[i]`` is ``sample_key`` of ``samples[i]``; ``labels`` (int64) index
    ``classes`` (after curation); ``features`` is float32 [n, d]; ``splits[i]``
    is "train", "val" or "test" as the project's split puts the sample (with
    ``include_pool``: the pool last, label -1, split "pool").
    ``root`` is the scanned dataset's root, ``task`` "image" or "text", and
    ``base_forwards`` how many samples this call ran through the base (0 when
    every row came from the cache).
    """

    samples: list[Sample]
    keys: list[str]
    labels: np.ndarray
    classes: list[str]
    features: np.ndarray
    splits: list[str]
    model_name: str
    root: str = ""
    task: str = "image"
    base_forwards: int = 0
    extract_seconds: float = 0.0     # time in the base (or reading the cache), model building excluded

    def __len__(self) -> int:
        return len(self.samples)


def extract_rows(model: nn.Module, pre, modality, parts: list[list[Sample]], *, device: torch.device, training,
                 job: JobState | None) -> tuple[np.ndarray, int]:
    """Rows for ``parts[0] + parts[1]`` (one cache entry keyed like a run's train/val rows; the active
    learning pool keys its all-samples entry the same way, core/active/pool_features.py)."""
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.base.modules())
    autocast = autocast_dtype_for(device, bool(training.amp))
    channels_last = bool(training.channels_last and device.type in ("cpu", "cuda") and has_conv)
    first, second = parts
    key = cache_key({**base_key_parts(model, pre, modality, {"device": device.type, "autocast": str(autocast),
                                                            "channels_last": channels_last}),
                     "augment": "none", "views": 1, "seed": None,
                     "train": split_identity(first, modality), "val": split_identity(second, modality)})
    cache = FeatureCache()
    entry, forwards = cache.load(key), 0
    if entry is None:
        dataset = modality.eval_dataset(pre, list(first) + list(second))
        n = len(first) + len(second)
        workers = extraction_workers(device, n) if modality.needs_workers else 0

        try:
            entry, forwards = build_entry(cache, key, dataset, modality, model.base, views=1, n_train=len(first),
                                          n_val=len(second), dim=int(model.feature_dim),
                                          meta={"model": model.model_name, "augment": "none"}, device=device,
                                          batch_size=extraction_batch_size(device), num_workers=workers,
                                          autocast_dtype=autocast, channels_last=channels_last,
                                          job=job)
        finally:
            if channels_last:
                model.base.to(memory_format=torch.contiguous_format)
    rows = entry.rows
    rows = rows.float().cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows, dtype=np.float32)
    return rows, forwards


def label_free_rows(model: nn.Module, pre, modality, scanned, *, device: torch.device, training,
                    job: JobState | None) -> tuple[np.ndarray, dict[str, int], int]:
    """``(rows, row of each sample key, base forwards)`` for every sample of the *scanned* (uncurated)
    dataset ``scanned`` -- labelled and pool alike, ordered by path, labels left out of the key -- in one
    cache entry: labelling, relabelling or excluding a sample in the app changes no key. The audit of a
    dataset with a pool and Label next (core/active/pool_features.py) share it."""
    every = sorted((dataclasses.replace(s, label=UNLABELED) for s in scanned.samples + scanned.pool),
                   key=lambda s: s.path)
    row_of = {key: r for r, key in enumerate(sample_keys(dataclasses.replace(scanned, samples=every)))}
    rows, forwards = extract_rows(model, pre, modality, [every, []], device=device, training=training, job=job)
    return rows, row_of, forwards


def scan_curated(project, job: JobState | None = None):
    """The project's dataset, scanned and with its curation applied (what ``collect_features`` reads)."""
    if not project.data.path:
        raise DatasetError("Choose a dataset folder or file first.")
    return apply_curation(modality_for(project.task).scan(project.data.path, job=job, data=project.data),
                          project.data)


def feature_model(project, modality, num_classes: int, device=None) -> tuple[torch.device, object, nn.Module]:
    """``(device, preprocessing, model)`` that extract ``project``'s frozen features: its model with an
    empty head (``device``: a torch device or its name; default: the project's training device)."""
    from tlstudio.core.device import resolve_device

    device = device if isinstance(device, torch.device) else resolve_device(device or project.training.device)
    card = modality.model_card(project.model)
    model = create_transfer_model(card, HeadSpec(layers=[]), max(2, num_classes), weights=project.model.weights)
    return device, modality.preprocessing(card, project.model), model


def collect_features(project, *, job: JobState | None = None, device=None, index=None, model=None,
                     with_test: bool = True, include_pool: bool = False) -> DatasetFeatures:
    """The frozen features of every labelled sample of ``project`` (see the module docstring), and of
    the unlabeled pool after them when ``include_pool``.

    ``device``: a torch device or its name (default: the project's training device).
    ``job`` reports progress (the scan's, then the extraction's) and can cancel.
    ``index``: the project's ``scan_curated`` dataset when the caller already has it (no second scan);
    ``model``: the project's model already built (its base is used); ``with_test=False`` leaves the
    test split out (a caller that fits heads only).
    """
    import time

    modality = modality_for(project.task)
    scanned = None
    if index is None:
        if not project.data.path:
            raise DatasetError("Choose a dataset folder or file first.")
        scanned = modality.scan(project.data.path, job=job, data=project.data)
        index = apply_curation(scanned, project.data)
    pool = list(index.pool) if include_pool else []
    if not pool:
        require_labels(index, modality.noun)
    d = project.data
    split = split_dataset(index, d.val_fraction, d.test_fraction, seed=d.seed)
    parts = {"train": split.train, "val": split.val, "test": split.test if with_test else []}
    if model is None:
        device, pre, model = feature_model(project, modality, len(index.classes), device)
    else:
        from tlstudio.core.device import resolve_device

        device = device if isinstance(device, torch.device) else resolve_device(device or project.training.device)
        pre = modality.preprocessing(modality.model_card(project.model), project.model)
    if job is not None:
        job.phase = "extracting features"
    started = time.perf_counter()
    samples = split.train + split.val + parts["test"] + pool
    if pool and scanned is not None:         # the entry Label next reads (label_free_rows)
        rows, row_of, forwards = label_free_rows(model, pre, modality, scanned, device=device,
                                                 training=project.training, job=job)
        ordered_keys = sample_keys(dataclasses.replace(index, samples=samples))
        blocks = [rows[[row_of[k] for k in ordered_keys]].reshape(-1, rows.shape[1])]
    else:
        blocks, forwards = [np.zeros((0, int(model.feature_dim)), np.float32)], 0
        for pair in ([split.train, split.val], [parts["test"], []], [pool, []]):     # a cache entry each
            if pair[0] or pair[1]:
                rows, more = extract_rows(model, pre, modality, pair, device=device, training=project.training,
                                          job=job)
                blocks.append(rows)
                forwards += more
    samples = split.train + split.val + parts["test"] + pool
    ordered = dataclasses.replace(index, samples=samples)
    return DatasetFeatures(
        samples=samples, keys=sample_keys(ordered), labels=np.array([s.label for s in samples], dtype=np.int64),
        classes=list(index.classes), features=np.concatenate(blocks).astype(np.float32, copy=False),
        splits=[name for name in SPLIT_NAMES for _ in parts[name]] + [POOL_SPLIT] * len(pool),
        model_name=model.model_name, root=index.root, task=project.task, base_forwards=forwards,
        extract_seconds=time.perf_counter() - started)

"""Curation: the Project's exclusions and label overrides, applied to a scanned dataset.

A user (or the data audit) can leave a sample out or give it another class
without touching the data's files; both are stored in the Project's ``data``
section by sample key (``index.sample_key``). ``apply_curation`` is the one
place they take effect, right after a scan, for every consumer: the trainer,
the command line (train, audit) and the GUI's Data tab counts.

Labelling the unlabeled pool is the same mechanism: ``label_pool_sample``
stores a label override on a pool sample's key (``index.pool_keys``), and
``apply_curation`` moves that sample from ``DatasetIndex.pool`` into
``samples`` (so into the split and training). A pool label may name a class
the scan did not find (a new class, or one of ``index.empty_classes``): it is
appended to ``classes`` after the scanned ones, so their numbers never move.
The user's files are never written here; only the Audit tab's "Apply to
disk…" (``core.insight.actions.apply_to_disk``) moves a labelled image from
``unlabeled/`` into its class folder, after asking and with an undo record.
A table (CSV/TSV/JSONL) is never rewritten: its labels stay in the project.

Keys that match no sample (a file deleted or renamed since) are ignored, so a
project stays usable when its data changes; ``curation_summary`` counts them.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from tlstudio.core.data.index import DatasetIndex, pool_keys, sample_keys
from tlstudio.core.errors import DatasetError


def apply_curation(index: DatasetIndex, data: Any) -> DatasetIndex:
    """``index`` without the excluded samples, with the overridden labels, and with the pool
    samples that were given a label moved into ``samples``.

    ``data`` is the Project's ``DataSettings`` (anything with ``exclusions`` and
    ``label_overrides``). The classes stay as scanned (a class left with no
    sample keeps its place, so label numbers do not move), followed by the new
    classes that pool labels name (sorted). An override of a labelled sample
    naming a class the dataset does not have raises ``DatasetError``. Excluded
    pool samples leave the pool. Returns ``index`` itself when there is nothing
    to apply; otherwise a copy of the same type. Applying twice gives the same
    result as applying once (a curated index's pool holds no labelled key).
    """
    excluded = set(getattr(data, "exclusions", None) or ())
    overrides = dict(getattr(data, "label_overrides", None) or {})
    if not excluded and not overrides:
        return index
    pool = list(zip(pool_keys(index), index.pool))
    pool_labels = {key: overrides[key] for key, _ in pool if key in overrides and key not in excluded}
    classes = list(index.classes)
    classes += sorted(set(pool_labels.values()) - set(classes))
    label_of = {name: i for i, name in enumerate(classes)}
    unknown = sorted({name for name in overrides.values() if name not in label_of})
    if unknown:
        raise DatasetError(f"A label override names class {', '.join(repr(u) for u in unknown)}, which the "
                           f"dataset does not have; its classes are {', '.join(classes)}.")
    samples = []
    for key, sample in zip(sample_keys(index), index.samples):
        if key in excluded:
            continue
        if key in overrides:
            sample = dataclasses.replace(sample, label=label_of[overrides[key]])
        samples.append(sample)
    samples += [dataclasses.replace(s, label=label_of[pool_labels[key]]) for key, s in pool if key in pool_labels]
    rest = [s for key, s in pool if key not in excluded and key not in pool_labels]
    if not samples and not rest:
        raise DatasetError("Every sample of the dataset is excluded; include some again to train.")
    return dataclasses.replace(index, classes=classes, samples=samples, pool=rest,
                               empty_classes=[c for c in index.empty_classes if c not in label_of])


def label_pool_sample(project: Any, key: str, label: str | None) -> None:
    """Give the pool sample ``key`` (``index.pool_keys``) the class ``label``, stored in the Project
    (``data.label_overrides``; the data's files are untouched); None or "" clears it, so the
    sample returns to the pool. ``project`` is the Project or its ``DataSettings``. The label may
    name a new class. The caller saves the project; the next ``apply_curation`` applies it."""
    data = getattr(project, "data", project)
    if not isinstance(key, str) or not key:
        raise DatasetError("A sample key is needed to label a sample.")
    name = "" if label is None else str(label).strip()
    overrides = dict(data.label_overrides)
    if name:
        overrides[key] = name
    else:
        overrides.pop(key, None)
    data.label_overrides = overrides


def curation_summary(index: DatasetIndex, data: Any) -> dict[str, int]:
    """How the curation touches ``index`` (the scan before curation): excluded, relabelled
    (to a class other than the scanned one), pool samples labelled in the project (``labelled``),
    and stored keys that match no sample."""
    keys = sample_keys(index)
    in_pool = pool_keys(index)
    present = set(keys) | set(in_pool)
    excluded = set(getattr(data, "exclusions", None) or ())
    overrides = dict(getattr(data, "label_overrides", None) or {})
    relabelled = sum(1 for key, s in zip(keys, index.samples)
                     if key in overrides and key not in excluded
                     and overrides[key] != (index.classes[s.label] if s.label < len(index.classes) else None))
    labelled = sum(1 for key in in_pool if key in overrides and key not in excluded)
    stale = len(excluded - present) + len(set(overrides) - present)
    return {"excluded": len(excluded & present), "relabelled": relabelled, "labelled": labelled,
            "unmatched": stale}

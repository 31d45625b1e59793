"""Curation: the Project's exclusions and label overrides, applied to a scanned dataset.

A user (or the data audit) can leave a sample out or give it another class
without touching the data's files; both are stored in the Project's ``data``
section by sample key (``index.sample_key``). ``apply_curation`` is the one
place they take effect, right after a scan, for every consumer: the trainer,
the command line (train, audit) and the GUI's Data tab counts.

Keys that match no sample (a file deleted or renamed since) are ignored, so a
project stays usable when its data changes; ``curation_summary`` counts them.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from tlstudio.core.data.index import DatasetIndex, sample_keys
from tlstudio.core.data.label_sets import MULTILABEL, override_names, relabel
from tlstudio.core.errors import DatasetError


def apply_curation(index: DatasetIndex, data: Any) -> DatasetIndex:
    """``index`` without the excluded samples and with the overridden labels.

    ``data`` is the Project's ``DataSettings`` (anything with ``exclusions`` and
    ``label_overrides``). The classes stay as scanned (a class left with no
    sample keeps its place, so label numbers do not move). An override naming a
    class the dataset does not have raises ``DatasetError``. Returns ``index``
    itself when there is nothing to apply; otherwise a copy of the same type.
    Applying twice gives the same result as applying once.
    """
    excluded = set(getattr(data, "exclusions", None) or ())
    overrides = dict(getattr(data, "label_overrides", None) or {})
    if not excluded and not overrides:
        return index
    label_of = {name: i for i, name in enumerate(index.classes)}
    multilabel = index.task_type == MULTILABEL      # an override is then a label cell ("a;b")
    unknown = sorted({name for value in overrides.values() for name in override_names(value, multilabel)
                      if name not in label_of})
    if unknown:
        raise DatasetError(f"A label override names class {', '.join(repr(u) for u in unknown)}, which the "
                           f"dataset does not have; its classes are {', '.join(index.classes)}.")
    samples = []
    for key, sample in zip(sample_keys(index), index.samples):
        if key in excluded:
            continue
        if key in overrides:
            sample = relabel(sample, overrides[key], label_of)
        samples.append(sample)
    if not samples:
        raise DatasetError("Every sample of the dataset is excluded; include some again to train.")
    return dataclasses.replace(index, samples=samples)


def curation_summary(index: DatasetIndex, data: Any) -> dict[str, int]:
    """How the curation touches ``index`` (the scan before curation): excluded, relabelled
    (to a class other than the scanned one), and stored keys that match no sample."""
    keys = sample_keys(index)
    present = set(keys)
    excluded = set(getattr(data, "exclusions", None) or ())
    overrides = dict(getattr(data, "label_overrides", None) or {})
    relabelled = sum(1 for key, s in zip(keys, index.samples)
                     if key in overrides and key not in excluded
                     and overrides[key] != (index.classes[s.label] if s.label < len(index.classes) else None))
    stale = len(excluded - present) + len(set(overrides) - present)
    return {"excluded": len(excluded & present), "relabelled": relabelled, "unmatched": stale}

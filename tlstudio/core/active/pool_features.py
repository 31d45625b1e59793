"""Features of a Project's labelled samples and of its unlabeled pool, for ranking the pool.

The rows come from one feature-cache entry over *every* scanned sample --
labelled and pool alike, ordered by path, keyed without their labels
(``insight.features.label_free_rows``; the audit of a dataset with a pool
reads the same entry) -- so
giving a pool sample a label (which moves it into the labelled samples, see
``core.data.curation``) changes no key and runs nothing through the base
again. ``PoolFeatures.with_label`` moves one row from the pool to the labelled
rows in memory: the Label-next panel re-ranks after each label without a scan.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.index import Sample, pool_keys, sample_keys
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import DatasetError
from tlstudio.core.progress import JobState


@dataclass
class PoolFeatures:
    """``labelled`` [n, d] with ``labels`` (indices into ``classes``) and ``labelled_keys``; the pool's
    ``pool`` [m, d] rows, ``pool_samples`` and ``pool_keys``. ``classes`` are the names a pool sample
    can be given (the curated classes, then the empty declared ones)."""

    classes: list[str]
    labelled: np.ndarray
    labels: np.ndarray
    labelled_keys: list[str]
    pool: np.ndarray
    pool_samples: list[Sample]
    pool_keys: list[str]
    root: str = ""
    task: str = "image"
    base_forwards: int = 0

    def with_label(self, key: str, class_name: str) -> "PoolFeatures":
        """A copy with the pool sample ``key`` moved to the labelled rows as ``class_name`` (a new
        class name is appended to ``classes``)."""
        if key not in self.pool_keys:
            raise DatasetError(f"'{key}' is not in the unlabeled pool.")
        i = self.pool_keys.index(key)
        classes = self.classes if class_name in self.classes else [*self.classes, class_name]
        keep = np.arange(len(self.pool_keys)) != i
        return dataclasses.replace(
            self, classes=list(classes), labelled=np.concatenate([self.labelled, self.pool[i:i + 1]]),
            labels=np.append(self.labels, classes.index(class_name)).astype(np.int64),
            labelled_keys=[*self.labelled_keys, key], pool=self.pool[keep],
            pool_samples=[s for j, s in enumerate(self.pool_samples) if j != i],
            pool_keys=[k for j, k in enumerate(self.pool_keys) if j != i])


def collect_pool_features(project, *, job: JobState | None = None, device=None) -> PoolFeatures:
    """Scan ``project``'s data, apply its curation, and return the features of its labelled samples
    and of its pool through the feature cache (see the module docstring). Raises ``DatasetError``
    when the data has no unlabeled sample."""
    from tlstudio.core.insight.features import feature_model, label_free_rows

    if not project.data.path:
        raise DatasetError("Choose a dataset folder or file first.")
    modality = modality_for(project.task)
    scanned = modality.scan(project.data.path, job=job, data=project.data)
    index = apply_curation(scanned, project.data)
    if not index.pool:
        raise DatasetError(f"The dataset has no unlabeled {modality.noun} to suggest from: put them in an "
                           f"'unlabeled' folder beside the class folders, or leave their label cells empty.")
    device, pre, model = feature_model(project, modality, len(index.classes), device)
    if job is not None:
        job.phase = "extracting features"
    # Every scanned sample, labels left out of the key, so labelling in the app reuses the entry (and an
    # audit's extraction serves it: the same entry).
    rows, row_of, forwards = label_free_rows(model, pre, modality, scanned, device=device,
                                             training=project.training, job=job)
    labelled_keys, keys = sample_keys(index), pool_keys(index)
    return PoolFeatures(
        classes=index.label_choices(), labelled=rows[[row_of[k] for k in labelled_keys]].reshape(-1, rows.shape[1]),
        labels=np.array([s.label for s in index.samples], dtype=np.int64), labelled_keys=labelled_keys,
        pool=rows[[row_of[k] for k in keys]], pool_samples=list(index.pool), pool_keys=keys, root=index.root,
        task=project.task, base_forwards=forwards)

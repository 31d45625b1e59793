"""Worker job of the zero-shot baseline (it loads an encoder and runs it over the dataset)."""
from __future__ import annotations


def zero_shot_job(index, task_name: str, descriptions: dict[str, str], job=None):
    """The ``ZeroShotResult`` of the curated dataset ``index`` of a ``task_name`` project."""
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.zeroshot.run import zero_shot

    return zero_shot(index, modality_for(task_name), descriptions=descriptions, job=job)

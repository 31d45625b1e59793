"""Worker jobs of the Label-next tab: the pool's features and first ranking (a scan and, the first
time, a pass of the base over the data), and a re-ranking from features in memory after a label
(a quick head refit: well under a second). Each runs through ``tasks.run_task``."""
from __future__ import annotations


def pool_job(project_dict: dict, top: int, job=None) -> tuple:
    """Worker job: ``(PoolFeatures, suggestions_json)`` of a snapshot of the project."""
    from tlstudio.core.active.suggest import suggest, suggestions_json
    from tlstudio.core.project import Project

    data, ranking = suggest(Project.from_dict(project_dict), top, job=job)
    return data, suggestions_json(data, ranking)


def rerank_job(data, top: int, seed: int = 0, job=None) -> dict:
    """Worker job: ``suggestions_json`` of ``data`` ranked again (its labelled rows changed)."""
    from tlstudio.core.active.suggest import rerank, suggestions_json

    return suggestions_json(data, rerank(data, top, seed=seed, job=job))

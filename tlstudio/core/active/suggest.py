"""What to label next in a Project: its pool ranked, as plain data for the CLI and the GUI.

``suggest(project, top)`` collects the labelled and pool features
(``pool_features.py``, through the feature cache) and ranks the pool
(``ranking.rank_pool``); ``rerank(data, top)`` ranks again from features
already in memory (after a label was given, see ``PoolFeatures.with_label``).
``suggestions_json`` is the one place a suggestion becomes a row: an image
``path`` + ``key``, or a text's ``row`` locator + ``text``; ``suggested`` (a
class name, null at cold start), ``confidence`` and ``score``.
"""
from __future__ import annotations

from typing import Any

from tlstudio.core.active.pool_features import PoolFeatures, collect_pool_features
from tlstudio.core.active.ranking import PoolRanking, rank_pool
from tlstudio.core.progress import JobState

DEFAULT_TOP = 20


def rerank(data: PoolFeatures, top: int = DEFAULT_TOP, *, seed: int = 0, job: JobState | None = None) -> PoolRanking:
    """Rank ``data``'s pool (a quick head refit on its labelled rows; no base forward)."""
    return rank_pool(data.labelled, data.labels, len(data.classes), data.pool, top, seed=seed, job=job)


def suggest(project, top: int = DEFAULT_TOP, *, job: JobState | None = None,
            device=None) -> tuple[PoolFeatures, PoolRanking]:
    """The pool features of ``project`` and its ``top`` samples to label next."""
    data = collect_pool_features(project, job=job, device=device)
    if job is not None:
        job.phase = "ranking the unlabeled samples"
    return data, rerank(data, top, seed=int(project.data.seed), job=job)


def suggestions_json(data: PoolFeatures, ranking: PoolRanking) -> dict[str, Any]:
    """The ranking as plain data (``tlstudio-cli suggest --json``; the Label-next panel's rows)."""
    rows = []
    for s in ranking.suggestions:
        sample, key = data.pool_samples[s.index], data.pool_keys[s.index]
        where = {"row": key, "text": sample.text} if sample.text is not None else {"path": sample.path, "key": key}
        rows.append({**where, "suggested": None if s.suggested is None else data.classes[s.suggested],
                     "confidence": round(s.confidence, 4), "score": round(s.score, 4)})
    return {"task": data.task, "root": data.root, "classes": list(data.classes), "labelled": ranking.labelled,
            "unlabeled": ranking.unlabeled, "cold_start": ranking.cold_start, "how": ranking.how,
            "accuracy_estimate": None if ranking.accuracy_estimate is None else round(ranking.accuracy_estimate, 4),
            "suggestions": rows}

"""Worker jobs of "Predict a folder…": predict every input below a folder, save the rows (they run torch).

The rows of each batch go to ``sink`` (a thread-safe callable, e.g. a queue's
``put``) as soon as they exist; the dialog drains it on the GUI thread.
"""
from __future__ import annotations

import time
from typing import Callable


def predict_folder_job(loaded, folder: str, sink: Callable[[list[dict]], None], top_k: int = 3,
                       batch_size: int | None = None, job=None) -> dict:
    """Worker job: every input below ``folder``, a batch at a time into ``sink``; returns {"inputs",
    "predicted", "seconds", "noun"}. Listing, reading and the model all run here, off the GUI thread."""
    from tlstudio.core.runs.predict_folder import FolderPredictor

    start = time.perf_counter()
    predictor = FolderPredictor(loaded, folder, top_k=top_k, batch_size=batch_size)
    for rows in predictor.batches(job=job):
        sink(rows)
    return {"inputs": predictor.total, "predicted": predictor.predicted,
            "seconds": time.perf_counter() - start, "noun": predictor.modality.noun}


def save_predictions_job(rows: list[dict], path: str) -> str:
    """Worker job: ``rows`` written as a CSV prediction file (atomically; a file that is not one is refused)."""
    from tlstudio.core.runs.prediction_files import write_predictions

    return str(write_predictions(rows, path, "csv"))

"""Worker jobs of "Predict a folder…": predict every input below a folder into a prediction file that a
re-run continues, and save the rows shown (they run torch and read or write files).

The rows go to ``sink(rows, from_file)`` (a thread-safe callable, e.g. a
queue's ``put`` of the pair) as soon as they exist; the dialog drains it on the
GUI thread.
"""
from __future__ import annotations

from typing import Callable


def predict_folder_job(loaded, folder: str, out: str, sink: Callable[[list[dict], bool], None], top_k: int = 3,
                       batch_size: int | None = None, job=None) -> dict:
    """Worker job: the rows the prediction file ``out`` already holds go to ``sink(rows, True)`` (a re-run
    shows what it skips), then every input below ``folder`` that the file lacks is predicted a batch at a
    time, appended to ``out`` and sent to ``sink(rows, False)``. Returns ``predict_folder``'s summary.
    A file that is not a prediction file of this format and kind is refused (``ExportError``, its one
    line) before anything is read from the folder, and never changed."""
    from tlstudio.core.progress import check
    from tlstudio.core.runs.predict_folder import predict_folder
    from tlstudio.core.runs.prediction_files import output_format, read_predictions

    fmt = output_format(out)
    for rows in read_predictions(out, fmt, multilabel=getattr(loaded, "thresholds", None) is not None):
        check(job)
        sink(rows, True)
    return predict_folder(loaded, folder, out, fmt=fmt, top_k=top_k, batch_size=batch_size, job=job,
                          on_rows=lambda rows: sink(rows, False))


def save_predictions_job(rows: list[dict], path: str) -> str:
    """Worker job: ``rows`` written as a CSV prediction file (atomically; a file that is not one is refused)."""
    from tlstudio.core.runs.prediction_files import write_predictions

    return str(write_predictions(rows, path, "csv"))

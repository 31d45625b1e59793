"""Predict every input below a folder, streaming, into a CSV or JSON Lines file that a re-run resumes.

``FolderPredictor`` lists the inputs through the model's ``Modality``
(``folder_inputs``: images, or .txt files and table rows, named by their path
relative to the folder), reads them a batch at a time in a small pool of
threads (image decoding releases the GIL, as in the feature extraction's
``ThreadedLoader``; threads, not processes, so it runs as well from a GUI
worker thread) while the model runs the batch before, and yields each batch's
rows. At most ``PREFETCH_BATCHES`` batches are in flight, so memory stays flat
in the number of files: the listing is a generator and only the keys of rows
already written (to skip them) grow with the folder.

``predict_folder`` writes the rows to a prediction file
(``prediction_files.PredictionFile``) batch by batch: a re-run after an
interrupt, a cancel or a crash appends only the rows the file lacks. Each row
is ``prediction_entry``'s {path, label, probability, top_k} (a multi-label
model's adds ``labels``, its whole predicted label set), or {path, error} for
an input that could not be read: an unreadable file never stops the job.
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence

from tlstudio.core.data.folder_inputs import FolderInput, checked_folder
from tlstudio.core.data.loaders import MIN_ITEMS_FOR_WORKERS, auto_workers
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import DatasetError
from tlstudio.core.progress import JobState, check, set_progress
from tlstudio.core.runs.predict import batch_probabilities, output_probabilities, prediction_entry, read_sample
from tlstudio.core.runs.prediction_files import PredictionFile, one_line
from tlstudio.core.train.stage_data import extraction_batch_size

PREFETCH_BATCHES = 4        # batches being read ahead of the model


def decode_threads(device_type: str = "cpu") -> int:
    """Threads reading inputs: as many as a training run's decoding workers (at least 1)."""
    return max(1, auto_workers(MIN_ITEMS_FOR_WORKERS, device_type))


def _read_batch(reader: Callable, items: Sequence[FolderInput]) -> list[tuple[FolderInput, Any, str | None]]:
    out = []
    for item in items:
        x, error = (None, item.error) if item.sample is None else read_sample(reader, item.sample)
        out.append((item, x, error))
    return out


def _chunks(items: Iterable[FolderInput], size: int) -> Iterator[list[FolderInput]]:
    chunk: list[FolderInput] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class FolderPredictor:
    """The inputs below ``folder`` for a loaded model (``folder.load_model``), predicted in batches.

    ``data``: the text column / encoding choice for tables (an object with ``text_column`` and
    ``encoding``, or None); ``exclude``: files never listed (the output file). After ``batches``:
    ``total`` inputs listed, ``skipped`` of them already written, ``predicted`` rows made.
    """

    def __init__(self, loaded, folder: str | os.PathLike, *, top_k: int = 5, batch_size: int | None = None,
                 data: Any = None, exclude: Collection[str | os.PathLike] = (), threads: int | None = None) -> None:
        self.loaded = loaded
        self.modality = modality_for(loaded.task)
        self.root = checked_folder(folder)
        self.top_k = int(top_k)
        self.batch_size = max(1, int(batch_size or extraction_batch_size(loaded.device)))
        self.data, self.exclude = data, list(exclude)
        self.threads = threads or decode_threads(loaded.device.type)
        self.total: int | None = None
        self.skipped = self.predicted = 0

    def inputs(self) -> Iterator[FolderInput]:
        return self.modality.folder_inputs(self.root, data=self.data, exclude=self.exclude)

    def count(self, job: JobState | None = None) -> int:
        """How many inputs the folder holds (a listing pass: names only for images); ``DatasetError``
        when there are none."""
        if self.total is None:
            check(job)
            self.total = sum(1 for _ in self.inputs())
        if not self.total:
            raise DatasetError(f"There are no {self.modality.noun} below '{self.root}'.")
        return self.total

    def batches(self, skip: Collection[str] = frozenset(), job: JobState | None = None) -> Iterator[list[dict]]:
        """The rows of each batch, in listing order, leaving out inputs whose (one-line) key is in
        ``skip``. ``job`` is checked before each batch and told the progress (skipped inputs count as
        done)."""
        total = self.count(job)
        reader = self.modality.input_reader(self.loaded.preprocessing)
        device, classes = self.loaded.device, self.loaded.classes
        thresholds = getattr(self.loaded, "thresholds", None)       # a multi-label model: label sets

        def todo() -> Iterator[FolderInput]:
            for item in self.inputs():
                if skip and one_line(item.key) in skip:
                    self.skipped += 1
                else:
                    yield item

        chunks = _chunks(todo(), self.batch_size)
        reported = [0]
        set_progress(job, 0, total)
        with ThreadPoolExecutor(self.threads, thread_name_prefix="tlstudio-predict") as pool:
            pending: deque = deque()

            def read_ahead() -> None:
                chunk = next(chunks, None)
                if chunk is not None:
                    pending.append(pool.submit(_read_batch, reader, chunk))

            for _ in range(PREFETCH_BATCHES):
                read_ahead()
            try:
                while pending:
                    check(job)
                    read = pending.popleft().result()
                    read_ahead()
                    probs = batch_probabilities(self.loaded.model, self.modality, [(x, e) for _, x, e in read],
                                                device, output_probabilities(self.loaded))
                    rows = [prediction_entry(item.key, probs[i], classes, self.top_k, thresholds) if i in probs
                            else {"path": item.key, "error": error or "could not be read"}
                            for i, (item, _, error) in enumerate(read)]
                    self.predicted += len(rows)
                    yield rows
                    reported[0] = self.skipped + self.predicted
                    set_progress(job, reported[0], total)
            finally:        # a cancel drops what is queued; a batch being read finishes first
                for future in pending:
                    future.cancel()
        if reported[0] != total:           # the last inputs were skipped (or the folder changed meanwhile)
            set_progress(job, total, total)


def predict_folder(loaded, folder: str | os.PathLike, out: str | os.PathLike, *, fmt: str | None = None,
                   top_k: int = 5, batch_size: int | None = None, data: Any = None,
                   job: JobState | None = None, on_rows: Callable[[list[dict]], None] | None = None) -> dict:
    """Predict every input below ``folder`` into the prediction file ``out`` (``fmt``: "csv" or
    "jsonl"; None: from its name), appending only the rows it lacks.

    Returns {"folder", "out", "format", "noun", "inputs", "new", "already", "rows", "errors",
    "per_label": {label: rows}, "seconds", "per_second"} (rows, errors and per_label count the whole
    file, a multi-label file each label of each row's set; per_second the new rows). ``on_rows`` gets each batch's rows once they are written.
    Cancel (``job``) raises ``Cancelled`` with every finished batch written.
    """
    predictor = FolderPredictor(loaded, folder, top_k=top_k, batch_size=batch_size, data=data, exclude=[out])
    predictor.count(job)                      # no inputs: refused before any file is made
    start = time.perf_counter()
    multilabel = getattr(loaded, "thresholds", None) is not None       # rows carry the whole label set
    with PredictionFile.open(out, fmt, multilabel) as target:
        for rows in predictor.batches(skip=target.written.keys, job=job):
            target.append(rows)
            if on_rows is not None:
                on_rows(rows)
    seconds = time.perf_counter() - start
    written = target.written
    return {"folder": str(predictor.root), "out": str(target.path), "format": target.format,
            "noun": predictor.modality.noun, "inputs": predictor.total, "new": predictor.predicted,
            "already": predictor.skipped, "rows": len(written.keys), "errors": written.errors,
            "per_label": dict(sorted(written.labels.items(), key=lambda kv: (-kv[1], str(kv[0])))),
            "seconds": seconds, "per_second": predictor.predicted / seconds if seconds > 0 else 0.0}

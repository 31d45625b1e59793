""""Predict a folder…": every image (or text file / table row) below a folder through the loaded run.

A worker (``gui/jobs/predict_folder_jobs``) lists, reads and predicts the
inputs a batch at a time; each batch's rows go into a queue that this dialog
drains on the GUI thread (on each progress report and a short timer) into a
sortable table (``itemmodels.prediction_rows``), so the table fills while the
bar moves and Cancel stops it between batches with the rows so far kept.
"Save as CSV…" writes the rows in a worker, as a CSV prediction file.
"""
from __future__ import annotations

import queue
from collections import Counter
from typing import Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Slot
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTableView, QVBoxLayout)

from tlstudio.gui.itemmodels.prediction_rows import SORT_ROLE, PredictionRowsModel
from tlstudio.gui.jobs.predict_folder_jobs import predict_folder_job, save_predictions_job
from tlstudio.gui.jobs.tasks import run_task

DRAIN_MS = 100              # rows waiting in the queue reach the table at least this often
TOP_K = 3
SHOWN_LABELS = 3


class PredictFolderDialog(QDialog):
    """``loaded()`` is the run's model (or None); ``track(task)`` tells the owner a job runs (or None)."""

    def __init__(self, loaded: Callable[[], object], track: Callable[[object], None] | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("predictFolderDialog")
        self.setWindowTitle("Predict a folder")
        self.resize(820, 520)
        self._loaded, self._track = loaded, track
        self._task = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.summary: dict | None = None
        self.saved_to: str | None = None

        self.folder_edit = QLineEdit(readOnly=True, objectName="predictFolderPath")
        self.folder_edit.setPlaceholderText("Choose a folder: every image (or text) below it is predicted")
        self.choose_button = QPushButton("Choose folder…", objectName="predictFolderChoose")
        self.choose_button.clicked.connect(self.choose_folder)
        self.progress = QProgressBar(objectName="predictFolderProgress")
        self.progress.setFormat("%v / %m")
        self.cancel_button = QPushButton("Cancel", objectName="predictFolderCancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("No folder predicted yet.", objectName="predictFolderStatus")
        self.status.setWordWrap(True)

        self.model = PredictionRowsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = QTableView(objectName="predictFolderTable")
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)       # listing order until a header is clicked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((250, 100, 85, 190)):
            self.view.setColumnWidth(column, width)

        self.save_button = QPushButton("Save as CSV…", objectName="predictFolderSave", enabled=False)
        self.save_button.clicked.connect(self.choose_save_path)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)

        top = QHBoxLayout()
        top.addWidget(self.folder_edit, 1)
        top.addWidget(self.choose_button)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel_button)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.save_button)
        bottom.addWidget(close_button)
        col = QVBoxLayout(self)
        col.addLayout(top)
        col.addLayout(bar)
        col.addWidget(self.status)
        col.addWidget(self.view, 1)
        col.addLayout(bottom)

        self._timer = QTimer(self, interval=DRAIN_MS)
        self._timer.timeout.connect(self._drain)

    # -- predicting -----------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._task is not None and self._task.is_running()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to predict", self.folder_edit.text())
        if folder:
            self.start(folder)

    def start(self, folder: str) -> bool:
        """Predict every input below ``folder`` with the loaded run, in a worker; False when it cannot."""
        loaded = self._loaded()
        if loaded is None or self.is_running():
            self.status.setText("Load a run first." if loaded is None else "A folder is being predicted.")
            return False
        self.folder_edit.setText(str(folder))
        self.model.clear()
        self.summary, self.saved_to = None, None
        self._queue = queue.SimpleQueue()          # rows of an earlier, cancelled job go to the old queue
        self.progress.setRange(0, 0)                # busy until the listing has counted the inputs
        self.status.setText("Listing the folder…")
        task = run_task(predict_folder_job, loaded, str(folder), self._queue.put, TOP_K, with_progress=True)
        self._task = task
        task.progress.connect(self._on_progress)
        task.finished.connect(self._on_finished)
        task.failed.connect(self._on_failed)
        task.done.connect(self._on_done)
        if self._track is not None:
            self._track(task)
        self._set_running(True)
        return True

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _set_running(self, on: bool) -> None:
        self.cancel_button.setEnabled(on)
        self.choose_button.setEnabled(not on)
        self.save_button.setEnabled(not on and bool(self.model.rows))
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    @Slot()
    def _drain(self) -> None:
        rows: list[dict] = []
        while True:
            try:
                rows.extend(self._queue.get_nowait())
            except queue.Empty:
                break
        self.model.append_rows(rows)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self.sender() is not self._task:
            return
        self._drain()
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.status.setText(f"{done} of {total} predicted" + self._errors_note())

    def _errors_note(self) -> str:
        errors = self.model.errors
        return f" · {errors} could not be read" if errors else ""

    @Slot(object)
    def _on_finished(self, summary: dict) -> None:
        if self.sender() is not self._task:
            return
        self._drain()
        self.summary = summary
        labels = Counter(r["label"] for r in self.model.rows if not r.get("error"))
        common = ", ".join(f"{label} {n}" for label, n in labels.most_common(SHOWN_LABELS))
        rate = summary["predicted"] / summary["seconds"] if summary["seconds"] > 0 else 0.0
        self.status.setText(f"Predicted {summary['predicted']} {summary['noun']} in {summary['seconds']:.1f} s "
                            f"({rate:.1f}/s)" + self._errors_note() + (f" · most often: {common}" if common else ""))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.sender() is not self._task:
            return
        self._drain()
        if self._task.was_cancelled():
            self.status.setText(f"Cancelled: {len(self.model.rows)} predicted so far" + self._errors_note())
        else:
            self.status.setText(f"Prediction failed: {message}")

    @Slot()
    def _on_done(self) -> None:
        if self.sender() is self._task:
            self._set_running(False)

    # -- saving --------------------------------------------------------------------------------
    def choose_save_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save predictions as CSV", "predictions.csv", "CSV (*.csv)")
        if path:
            self.save(path)

    def save(self, path: str) -> None:
        """Write the rows shown (in the order they came) to ``path`` as CSV, in a worker."""
        task = run_task(save_predictions_job, list(self.model.rows), str(path))
        task.finished.connect(self._on_saved)
        task.failed.connect(lambda message: self.status.setText(f"Not saved: {message}"))
        if self._track is not None:
            self._track(task)

    @Slot(object)
    def _on_saved(self, path: str) -> None:
        self.saved_to = path
        self.status.setText(f"Saved {len(self.model.rows)} rows to {path}")

    def closeEvent(self, event) -> None:
        self.cancel()                  # a closed dialog stops its job; nothing waits for it here
        super().closeEvent(event)

    def reject(self) -> None:          # Esc
        self.cancel()
        super().reject()

""""Predict a folder…": every image (or text file / table row) below a folder through the loaded run,
streamed into a prediction file that a re-run continues.

The user picks the folder and the output file (proposed beside the folder:
``<folder>.predictions.csv``; "Output file…" takes another, a CSV or JSON Lines
file, new or one to continue). A worker (``gui/jobs/predict_folder_jobs``)
first reads back the rows the file already holds (shown muted: a resumed run
skips them), then lists, reads and predicts the rest a batch at a time, each
batch appended to the file before its rows go into a queue that this dialog
drains on the GUI thread (on each progress report and a short timer) into a
sortable table (``itemmodels.prediction_rows``). Cancel stops between batches
with every finished batch in the file; pressing Continue carries on from there.
A file the app did not write is never changed: the core refuses it and its
one-line reason is shown. "Save as CSV…" writes the rows shown to another file
in a worker.
"""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Slot
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QGridLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QTableView, QVBoxLayout)

from tlstudio.gui.itemmodels.prediction_rows import SORT_ROLE, PredictionRowsModel
from tlstudio.gui.jobs.predict_folder_jobs import predict_folder_job, save_predictions_job
from tlstudio.gui.jobs.tasks import run_task

DRAIN_MS = 100              # rows waiting in the queue reach the table at least this often
TOP_K = 3
SHOWN_LABELS = 3
OUTPUT_FILTER = "CSV (*.csv);;JSON Lines (*.jsonl)"


def default_output(folder: str) -> str:
    """Where a folder's predictions go unless the user picks another file: beside the folder."""
    path = Path(folder)
    return str(path.parent / f"{path.name or 'folder'}.predictions.csv")


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
        self._picked_output: str | None = None      # an output file the user chose (else one per folder)

        self.folder_edit = QLineEdit(readOnly=True, objectName="predictFolderPath")
        self.folder_edit.setPlaceholderText("Choose a folder: every image (or text) below it is predicted")
        self.choose_button = QPushButton("Choose folder…", objectName="predictFolderChoose")
        self.choose_button.clicked.connect(self.choose_folder)
        self.output_edit = QLineEdit(readOnly=True, objectName="predictFolderOutput")
        self.output_edit.setPlaceholderText("The prediction file the rows are written to")
        self.output_button = QPushButton("Output file…", objectName="predictFolderOutputChoose")
        self.output_button.setToolTip("A new CSV or JSON Lines file, or a prediction file to continue")
        self.output_button.clicked.connect(self.choose_output)
        self.start_button = QPushButton("Predict", objectName="predictFolderStart", enabled=False)
        self.start_button.clicked.connect(lambda: self.start(self.folder_edit.text(), self.output_edit.text()))
        self.progress = QProgressBar(objectName="predictFolderProgress")
        self.progress.setFormat("%v / %m")
        self.cancel_button = QPushButton("Cancel", objectName="predictFolderCancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("No folder predicted yet.", objectName="predictFolderStatus")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(3 * self.fontMetrics().lineSpacing())   # a refusal names a whole path
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

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

        top = QGridLayout()
        top.addWidget(QLabel("Folder:"), 0, 0)
        top.addWidget(self.folder_edit, 0, 1)
        top.addWidget(self.choose_button, 0, 2)
        top.addWidget(QLabel("Rows go to:"), 1, 0)
        top.addWidget(self.output_edit, 1, 1)
        top.addWidget(self.output_button, 1, 2)
        top.setColumnStretch(1, 1)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.start_button)
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
            self.set_folder(folder)

    def set_folder(self, folder: str, output: str | None = None) -> None:
        """Predict ``folder`` next, into ``output`` (default: the file the user chose with "Output file…",
        else ``default_output``); nothing starts until Predict / Continue."""
        self.folder_edit.setText(str(folder))
        self.output_edit.setText(str(output or self._picked_output or default_output(folder)))
        self._update_start()

    def choose_output(self) -> None:
        """A new file, or an existing prediction file to continue (it is appended to, never replaced)."""
        start = self.output_edit.text() or (default_output(self.folder_edit.text()) if self.folder_edit.text() else "")
        path, _ = QFileDialog.getSaveFileName(self, "Prediction file (new, or one to continue)", start,
                                              OUTPUT_FILTER,
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self._picked_output = path
            self.output_edit.setText(path)
            self._update_start()

    def _update_start(self, running: bool | None = None) -> None:
        """Predict, or Continue when the output file exists (a stat: cheap enough for the GUI thread)."""
        output = self.output_edit.text()
        running = self.is_running() if running is None else running
        self.start_button.setText("Continue" if output and Path(output).is_file() else "Predict")
        self.start_button.setEnabled(bool(self.folder_edit.text() and output) and not running)

    def start(self, folder: str, output: str | None = None) -> bool:
        """Predict every input below ``folder`` with the loaded run into the prediction file ``output``
        (default: ``default_output``), in a worker, continuing a file an earlier run began; False when
        it cannot start."""
        loaded = self._loaded()
        if loaded is None or self.is_running():
            self.status.setText("Load a run first." if loaded is None else "A folder is being predicted.")
            return False
        self.set_folder(folder, output)
        output = self.output_edit.text()
        self.model.clear()
        self.summary, self.saved_to = None, None
        self._queue = queue.SimpleQueue()          # rows of an earlier, cancelled job go to the old queue
        self.progress.setRange(0, 0)                # busy until the listing has counted the inputs
        self.status.setText(f"Reading {Path(output).name}…" if Path(output).is_file() else "Listing the folder…")
        task = run_task(predict_folder_job, loaded, str(folder), output,
                        lambda rows, from_file, q=self._queue: q.put((rows, from_file)), TOP_K, with_progress=True)
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
        for button in (self.choose_button, self.output_button):
            button.setEnabled(not on)
        self.save_button.setEnabled(not on and bool(self.model.rows))
        self._update_start(on)
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    @Slot()
    def _drain(self) -> None:
        while True:
            try:
                rows, from_file = self._queue.get_nowait()
            except queue.Empty:
                break
            self.model.append_rows(rows, from_file)
            self._show_progress(self.progress.value())

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self.sender() is not self._task:
            return
        self.progress.setRange(0, max(1, total))
        self._show_progress(done)
        self._drain()

    def _show_progress(self, done: int) -> None:
        """``done`` inputs, or the rows in the table when more (a batch's rows reach the table before the
        core counts it); nothing while the folder is still being listed."""
        total = self.progress.maximum()
        if total == 0 or not self.is_running():
            return
        done = min(total, max(done, self.model.rowCount()))
        self.progress.setValue(done)
        self.status.setText(f"{done} of {total} done" + self._earlier_note() + self._errors_note())

    def _errors_note(self) -> str:
        errors = self.model.errors
        return f" · {errors} could not be read" if errors else ""

    def _earlier_note(self) -> str:
        earlier = len(self.model.from_file)
        return f" · {earlier} already in {Path(self.output_edit.text()).name} (grey)" if earlier else ""

    @Slot(object)
    def _on_finished(self, summary: dict) -> None:
        if self.sender() is not self._task:
            return
        self._drain()
        self.summary = summary
        common = ", ".join(f"{label} {n}" for label, n in list(summary["per_label"].items())[:SHOWN_LABELS])
        self.status.setText(f"Predicted {summary['new']} {summary['noun']} in {summary['seconds']:.1f} s "
                            f"({summary['per_second']:.1f}/s) into {Path(summary['out']).name}"
                            + self._earlier_note() + self._errors_note()
                            + (f" · most often: {common}" if common else ""))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.sender() is not self._task:
            return
        self._drain()
        if self.progress.maximum() == 0:          # still busy-looking: nothing was counted
            self.progress.setRange(0, 1)
            self.progress.reset()
        if self._task.was_cancelled():
            self.status.setText(f"Cancelled: {len(self.model.rows)} rows in {Path(self.output_edit.text()).name} "
                                "so far; Continue carries on from there" + self._errors_note())
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

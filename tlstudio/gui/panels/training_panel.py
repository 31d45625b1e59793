"""The Train tab: settings for both stages, start/pause/stop, live progress and curves.

Settings widgets are bound to ``state.project.training`` / ``.finetune``: an
edit writes the field and calls ``mark_changed``; ``projectReplaced`` reloads
the widgets. Training runs in a ``TrainingWorker`` on its own thread, on a
snapshot of the project, so edits made meanwhile cannot change the run; it
gets the Data tab's scanned dataset so the images are not scanned again.
Its events arrive as one signal and are handled by ``events.dispatch``
(``on_batch_progress``...), as the CLI handles them. Building the tab imports
no torch: the device list (CUDA names) is filled in by a worker.
"""
from __future__ import annotations

import gc
import importlib
import time
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea,
                               QSplitter, QVBoxLayout, QWidget)

from tlstudio.core import events as ev
from tlstudio.gui.widgets.charts import EMPTY_HINT, RUNNING_HINT, TrainingCharts
from tlstudio.core.device import available_devices
from tlstudio.gui.widgets.search_table import HeadSearchTable
from tlstudio.gui.widgets.training_settings import TrainingSettingsForm
from tlstudio.gui.views import task_words
from tlstudio.gui.jobs.tasks import report_failure, run_task
from tlstudio.gui.jobs.training import TrainingWorker, default_run_dir, start_on_thread
from tlstudio.gui.panels.training_events import TrainingEventHandlers

LOG_MAX_LINES = 2000


class TrainingPanel(TrainingEventHandlers, QWidget):
    """Train tab. ``eventReceived`` re-emits every worker event on the GUI thread."""

    eventReceived = Signal(object)
    trainingStarted = Signal(str)          # run folder
    trainingFinished = Signal(dict)        # {"run_dir", "metrics", "cancelled", "error", "recorded"}

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.state = state
        self._curves = None        # the running search's SearchCurves
        self._search_report: dict | None = None
        self._thread = None
        self.worker: TrainingWorker | None = None
        self._run_dir: Path | None = None
        self._finished_event = None
        self._error: str | None = None
        self._checkpoints = 0
        self._stage_epochs: dict[int, int] = {}
        self._build()
        self.reload()
        # Importing the trainer (timm, torch submodules) holds the GIL for
        # stretches of a few hundred ms: do it now, in a worker, rather than
        # on the training thread while the charts should be updating.
        self.preload_task = run_task(importlib.import_module, "tlstudio.core.train.trainer")
        self.devices_task = run_task(available_devices, on_finished=self._set_devices, parent=self)
        state.projectReplaced.connect(self.reload)
        state.datasetChanged.connect(self._show_task_type)
        state.changed.connect(self._on_section_changed)

    # -- layout ------------------------------------------------------------------
    def _build(self) -> None:
        self.settings = TrainingSettingsForm(self.state)
        self.device_combo = self.settings.device_combo
        self.head_fit_combo = self.settings.head_fit_combo
        self.settings_area = QScrollArea()
        self.settings_area.setWidget(self.settings)
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setMinimumWidth(360)
        self.settings_area.setMaximumWidth(460)

        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("startButton")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause after the current batch; press again to go on.")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop after the current batch; the best model so far is kept.")
        self.start_button.clicked.connect(self.start)
        self.pause_button.toggled.connect(self._toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)

        left = QVBoxLayout()
        self.task_label = QLabel(objectName="trainingTaskType", wordWrap=True)    # shown for multi-label only
        self.task_label.setMaximumWidth(460)
        left.addWidget(self.task_label)
        left.addWidget(self.settings_area, 1)
        left.addLayout(buttons)

        self.error_label = QLabel()
        self.error_label.setObjectName("trainingError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { background: #fde2e1; color: #a40000; border: 1px solid #e0a0a0;"
                                       " border-radius: 4px; padding: 6px; }")
        self.error_label.hide()
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("Idle")
        self.progress.setValue(0)
        self.speed_label = QLabel("Ready.")
        self.speed_label.setObjectName("speedLabel")
        self.speed_label.setWordWrap(True)

        self.charts = TrainingCharts(self)
        charts = QWidget()
        row = QHBoxLayout(charts)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.charts.loss)
        row.addWidget(self.charts.accuracy)

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("trainingLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_MAX_LINES)
        self.log_view.setFont(QFont("monospace", 9))
        self.search_table = HeadSearchTable()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(charts)
        splitter.addWidget(self.search_table)
        splitter.addWidget(self.log_view)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 1)

        right = QVBoxLayout()
        right.addWidget(self.error_label)
        right.addWidget(self.progress)
        right.addWidget(self.speed_label)
        right.addWidget(splitter, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)
        # Keyboard order: every setting, then Start / Pause / Stop, then the table and the log.
        chain = self.settings.widgets() + [self.start_button, self.pause_button, self.stop_button,
                                           self.search_table, self.log_view]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)
        self._set_running_ui(False)

    def widget_for(self, section: str, field: str) -> QWidget:
        return self.settings.widget_for(section, field)

    @Slot()
    def reload(self) -> None:
        """Show the project's values in the widgets (without writing them back)."""
        self.settings.reload()
        self._update_start_enabled()
        self._show_task_type()

    def _show_task_type(self) -> None:
        """The task line (multi-label: a sigmoid per label); a single-label project shows none."""
        line = task_words(self.state).line
        self.task_label.setText(line or "")
        self.task_label.setVisible(bool(line))

    def _set_devices(self, devices: list[tuple[str, str]]) -> None:
        """The worker's device list (with GPU names) replaces the placeholder one."""
        combo = self.device_combo
        if not shiboken6.isValid(combo):
            return
        combo.blockSignals(True)
        try:
            combo.clear()
            for value, label in devices:
                combo.addItem(label, value)
        finally:
            combo.blockSignals(False)
        self.reload()

    @Slot(str)
    def _on_section_changed(self, section: str) -> None:
        if section == "task":
            self.reload()               # the task's defaults (lr) show
        if section in ("training", "finetune"):
            self.settings.update_enabled()
        if section == "data":
            self._update_start_enabled()

    def _update_start_enabled(self) -> None:
        has_data = bool(self.state.project.data.path)
        running = self.is_running()
        self.start_button.setEnabled(has_data and not running)
        self.start_button.setToolTip("Train with the settings on the left." if has_data else
                                     "Choose a dataset first (Data tab): there is nothing to train on.")

    def reset_for_new_project(self) -> None:
        """Forget everything shown about the previous project's runs (charts, table, log, chosen values)."""
        if self.is_running():
            return
        self.charts.reset()
        self.charts.set_hint(EMPTY_HINT)
        self.search_table.reset()
        self.log_view.clear()
        self.settings.set_chosen(None)
        self.settings.show_few_label_decision("")
        self.error_label.hide()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("Idle")
        self.speed_label.setText("Ready.")
        self._run_dir = None
        self._update_start_enabled()

    def show_run(self, run_dir) -> bool:
        """Draw a finished run's curves from its folder (a search's or the epoch loop's); False if none."""
        if self.is_running():
            return False
        self.search_table.reset()
        return self.charts.show_run(run_dir)

    # -- running -----------------------------------------------------------------------
    def is_running(self) -> bool:
        thread = self._thread
        return thread is not None and shiboken6.isValid(thread) and thread.isRunning()

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        """Cancel a running training and block until its thread ended; True when it did."""
        if not self.is_running():
            return True
        self.worker.cancel()
        return self._thread.wait(timeout_ms)

    @Slot()
    def start(self) -> None:
        if self.is_running():
            return
        from tlstudio.core.project import Project

        snapshot = Project.from_dict(self.state.project.to_dict())
        self._run_dir = default_run_dir(snapshot)
        self._finished_event = None
        self._error = None
        self._checkpoints = 0
        self._stage_epochs = {}
        self._curves = None
        self._search_report = None
        self.error_label.hide()
        self.charts.reset()
        self.charts.set_hint(RUNNING_HINT)
        self.search_table.reset()
        self.progress.setRange(0, 0)      # busy until the first progress event
        self.progress.setFormat("Preparing…")
        self.speed_label.setText("Building the model…")
        self.log(f"Starting a run in {self._run_dir}")
        try:
            worker = TrainingWorker(snapshot, self._run_dir, dataset=self.state.dataset)
        except Exception as exc:  # e.g. a broken installation: say so, keep the app alive
            self._error = report_failure(exc, "Starting training")
            self._on_failed(self._error)
            self._on_worker_finished({})
            return
        worker.event.connect(self._on_event)
        worker.finished.connect(self._on_worker_finished)
        self.worker = worker
        # A full garbage collection walks every object the app holds (~300 ms
        # with torch and matplotlib loaded) while holding the GIL, freezing the
        # GUI mid-run. Objects alive now are long-lived: leave them out of
        # collections until the run ends.
        gc.freeze()
        self._thread = start_on_thread(worker)
        self._thread.finished.connect(self._on_thread_finished)
        self._set_running_ui(True)
        self.trainingStarted.emit(str(self._run_dir))

    @Slot()
    def stop(self) -> None:
        if self.is_running():
            self.worker.cancel()
            self.stop_button.setEnabled(False)
            self.log("Stopping after the current batch…")

    @Slot(bool)
    def _toggle_pause(self, paused: bool) -> None:
        if not self.is_running():
            return
        if paused:
            self.worker.pause()
            self.pause_button.setText("Resume")
            self.log("Paused.")
        else:
            self.worker.resume()
            self.pause_button.setText("Pause")
            self.log("Resumed.")

    def _set_running_ui(self, running: bool) -> None:
        self.settings_area.setEnabled(not running)
        self.start_button.setEnabled(not running and bool(self.state.project.data.path))
        self.stop_button.setEnabled(running)
        self.pause_button.setEnabled(running)
        if not running:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")

    # -- events (GUI thread) --------------------------------------------------------------
    @Slot(object)
    def _on_event(self, event) -> None:
        ev.dispatch(self, event)
        self.eventReceived.emit(event)

    def on_run_failed(self, event: ev.RunFailed) -> None:
        self._on_failed(event.message)

    def _on_failed(self, message: str) -> None:
        self._error = message
        kept = self._has_checkpoint()
        suffix = " The last good checkpoint is kept." if kept else ""
        self.error_label.setText(f"Training failed: {message}{suffix}")
        self.error_label.show()
        self.log(f"ERROR: {message}")

    def _has_checkpoint(self) -> bool:
        from tlstudio.core.runs.run_folder import RunFolder

        return self._run_dir is not None and RunFolder(self._run_dir).has_checkpoint()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is not None and shiboken6.isValid(thread):
            thread.wait()               # finished is emitted just before the OS thread exits
        self._thread = None
        self.worker = None
        gc.unfreeze()

    @Slot(dict)
    def _on_worker_finished(self, metrics: dict) -> None:
        self._set_running_ui(False)
        self.charts.set_hint(EMPTY_HINT)        # shown only if the run ended before drawing anything
        finished = self._finished_event
        cancelled = bool(finished.cancelled) if finished else bool(metrics.get("cancelled", False))
        self.progress.setRange(0, 100)
        self.progress.setValue(100 if finished and not cancelled and not self._error else self.progress.value())
        self.progress.setFormat("Failed" if self._error else ("Stopped" if cancelled else "Done"))
        self.speed_label.setText("Ready.")
        recorded = self._record_run(metrics, cancelled)
        self.trainingFinished.emit({"run_dir": str(self._run_dir), "metrics": metrics, "cancelled": cancelled,
                                    "error": self._error, "recorded": recorded})

    def _record_run(self, metrics: dict, cancelled: bool) -> bool:
        """Add the run to the project when it left a usable model; tell the panels if it succeeded."""
        if not self._has_checkpoint():
            return False
        info = {
            "name": self._run_dir.name,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "model": self.state.project.model.name,
            "val_accuracy": metrics.get("val_accuracy"),
            "epochs_run": metrics.get("epochs_run"),
            "cancelled": cancelled,
        }
        if self._error:
            info["error"] = self._error
        # A failed run keeps its last good checkpoint: listed, but the Results tab is not switched.
        self.state.add_run(str(self._run_dir), info, announce=not self._error)
        return True

    def closeEvent(self, event) -> None:  # standalone use; the main window asks before closing
        self.stop_and_wait()
        super().closeEvent(event)


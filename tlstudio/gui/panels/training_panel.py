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
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter, QTableWidget,
                               QTableWidgetItem,
                               QVBoxLayout, QWidget)

from tlstudio.core.train import events as ev
from tlstudio.core.train.choices import OPTIMIZERS, SCHEDULES
from tlstudio.gui.widgets.charts import TrainingCharts
from tlstudio.gui.widgets.settings_widgets import (SciSpinBox, available_devices, double_spin, format_eta, int_spin,
                                                   placeholder_devices)
from tlstudio.gui.jobs.tasks import report_failure, run_task
from tlstudio.gui.jobs.training import TrainingWorker, default_run_dir, start_on_thread

LOG_MAX_LINES = 2000


SEARCH_COLUMNS = ["head", "lr", "weight decay", "epochs", "CV accuracy", "CV loss", "time", ""]


class TrainingPanel(QWidget):
    """Train tab. ``eventReceived`` re-emits every worker event on the GUI thread."""

    eventReceived = Signal(object)
    trainingStarted = Signal(str)          # run folder
    trainingFinished = Signal(dict)        # {"run_dir", "metrics", "cancelled", "error", "recorded"}

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.state = state
        self._bindings: list[tuple[str, str, QWidget]] = []
        self._loading = False
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
        state.changed.connect(self._on_section_changed)

    # -- layout ------------------------------------------------------------------
    def _build(self) -> None:
        head = QGroupBox("Stage 1 · train the head")
        form = QFormLayout(head)
        self._add(form, "Epochs", "training", "epochs", int_spin(1, 10000))
        self._add(form, "Batch size", "training", "batch_size", int_spin(1, 8192))
        self._add(form, "Optimizer", "training", "optimizer", self._combo([(o, o) for o in OPTIMIZERS]))
        self._add(form, "Learning rate", "training", "lr", SciSpinBox(1e-8, 10.0))
        self._add(form, "Weight decay", "training", "weight_decay", SciSpinBox(0.0, 1.0))
        self._add(form, "Schedule", "training", "schedule", self._combo([(s, s) for s in SCHEDULES]))
        self._add(form, "Label smoothing", "training", "label_smoothing", double_spin(0.0, 0.5, 0.05, 2))
        self._add(form, "", "training", "class_weighted", QCheckBox("Weight classes by rarity"))
        self._add(form, "Early stopping", "training", "early_stopping_patience",
                  int_spin(0, 1000, special="off", suffix=" epochs"))
        self._add(form, "Stop on", "training", "early_stopping_metric",
                  self._combo([("val_acc", "validation accuracy"), ("val_loss", "validation loss")]))
        self._add(form, "Seed", "training", "seed", int_spin(0, 2**31 - 1))

        fine = QGroupBox("Stage 2 · fine-tune")
        form = QFormLayout(fine)
        self._add(form, "", "finetune", "enabled", QCheckBox("Fine-tune after the head"))
        self._add(form, "Epochs", "finetune", "epochs", int_spin(1, 10000))
        self._add(form, "Unfreeze last", "finetune", "unfreeze_last", int_spin(1, 100, suffix=" block(s)"))
        self._add(form, "LR multiplier", "finetune", "lr_multiplier", SciSpinBox(1e-6, 10.0))
        batchnorm = QCheckBox("Update BatchNorm statistics")
        batchnorm.setToolTip("Off (recommended for small datasets): BatchNorm layers keep their pretrained\n"
                             "running statistics while their weights are fine-tuned.")
        self._add(form, "", "finetune", "train_batchnorm", batchnorm)

        hardware = QGroupBox("Hardware")
        form = QFormLayout(hardware)
        self.device_combo = self._combo(placeholder_devices())
        self.device_combo.setObjectName("deviceCombo")
        self._add(form, "Device", "training", "device", self.device_combo)
        self._add(form, "", "training", "use_cache", QCheckBox("Cache base features (frozen base)"))
        self._add(form, "Cached views", "training", "cache_views", int_spin(1, 32))
        self._add(form, "", "training", "amp", QCheckBox("Mixed precision (GPU)"))
        self._add(form, "", "training", "channels_last", QCheckBox("Channels-last memory"))

        settings = QWidget()
        col = QVBoxLayout(settings)
        col.setContentsMargins(0, 0, 0, 0)
        for box in (head, fine, hardware):
            col.addWidget(box)
        col.addStretch(1)
        self.settings_area = QScrollArea()
        self.settings_area.setWidget(settings)
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setMinimumWidth(330)
        self.settings_area.setMaximumWidth(420)

        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("startButton")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.start_button.clicked.connect(self.start)
        self.pause_button.toggled.connect(self._toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)

        left = QVBoxLayout()
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
        # The automatic head fit's report: one row per configuration tried, the winner marked.
        self.search_table = QTableWidget(0, len(SEARCH_COLUMNS))
        self.search_table.setObjectName("headSearchTable")
        self.search_table.setHorizontalHeaderLabels(SEARCH_COLUMNS)
        self.search_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.search_table.verticalHeader().setVisible(False)
        self.search_table.hide()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(charts)
        splitter.addWidget(self.search_table)
        splitter.addWidget(self.log_view)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        right = QVBoxLayout()
        right.addWidget(self.error_label)
        right.addWidget(self.progress)
        right.addWidget(self.speed_label)
        right.addWidget(splitter, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)
        self._set_running_ui(False)

    def _combo(self, items: list[tuple[str, str]]) -> QComboBox:
        combo = QComboBox()
        for value, label in items:
            combo.addItem(label, value)
        return combo

    def _add(self, form: QFormLayout, label: str, section: str, field: str, widget: QWidget) -> None:
        widget.setObjectName(f"{section}_{field}")
        form.addRow(label, widget) if label else form.addRow(widget)
        self._bindings.append((section, field, widget))
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(lambda v, s=section, f=field: self._write(s, f, bool(v)))
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(
                lambda _i, s=section, f=field, w=widget: self._write(s, f, w.currentData()))
        else:
            widget.valueChanged.connect(lambda v, s=section, f=field: self._write(s, f, v))

    # -- binding -------------------------------------------------------------------
    def _write(self, section: str, field: str, value) -> None:
        if self._loading or value is None:
            return
        target = getattr(self.state.project, section)
        if getattr(target, field) != value:
            setattr(target, field, value)
            if section == "training":      # the user chose it: the head search keeps it
                target.set_explicit(field)
            self.state.mark_changed(section)

    @Slot()
    def reload(self) -> None:
        """Show the project's values in the widgets (without writing them back)."""
        self._loading = True
        try:
            for section, field, widget in self._bindings:
                value = getattr(getattr(self.state.project, section), field)
                if (section, field) == ("training", "lr"):
                    value = self.state.project.epoch_lr()    # a text project's default when lr was left
                if isinstance(widget, QCheckBox):
                    widget.setChecked(bool(value))
                elif isinstance(widget, QComboBox):
                    index = widget.findData(value)
                    if index < 0:           # keep an unknown value visible rather than changing it
                        widget.addItem(f"{value} (not available here)", value)
                        index = widget.count() - 1
                    widget.setCurrentIndex(index)
                else:
                    widget.setValue(value)
        finally:
            self._loading = False
        self._update_finetune_enabled()

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
            self._update_finetune_enabled()

    def _update_finetune_enabled(self) -> None:
        on = self.state.project.finetune.enabled
        for section, field, widget in self._bindings:
            if section == "finetune" and field != "enabled":
                widget.setEnabled(on)

    def widget_for(self, section: str, field: str) -> QWidget:
        for s, f, w in self._bindings:
            if (s, f) == (section, field):
                return w
        raise KeyError(f"{section}.{field}")

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
        self.error_label.hide()
        self.charts.reset()
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
        self.start_button.setEnabled(not running)
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

    def on_batch_progress(self, event: ev.BatchProgress) -> None:
        epochs = self._stage_epochs.get(event.stage, event.epoch)
        total = max(1, epochs * event.batches)
        self.progress.setRange(0, total)
        self.progress.setValue(min(total, (event.epoch - 1) * event.batches + event.batch))
        self.progress.setFormat(f"Stage {event.stage} · epoch {event.epoch}/{epochs} · %p%")
        self.speed_label.setText(f"batch {event.batch}/{event.batches} · loss {event.loss:.4f} · "
                                 f"{event.images_per_second:.0f} images/s · ETA {format_eta(event.eta_seconds)}")

    def on_feature_extraction_progress(self, event: ev.FeatureExtractionProgress) -> None:
        self.progress.setRange(0, max(1, event.total))
        self.progress.setValue(event.done)
        self.progress.setFormat("Extracting features %v/%m")
        self.speed_label.setText(f"{event.images_per_second:.0f} images/s · "
                                 f"ETA {format_eta(event.eta_seconds)}")

    def on_head_search_finished(self, event: ev.HeadSearchFinished) -> None:
        rows = event.search["trials"]
        score = "CV" if event.search["folds"] > 1 else "val"
        self.search_table.setHorizontalHeaderLabels([h.replace("CV", score) for h in SEARCH_COLUMNS])
        self.search_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row["head"], f"{row['lr']:.0e}", f"{row['weight_decay']:.0e}", str(row["epochs"]),
                     f"{row['cv_accuracy']:.1%}", f"{row['cv_loss']:.3f}", f"{row['seconds']:.1f} s",
                     "winner" if row["winner"] else ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if row["winner"]:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.search_table.setItem(r, c, item)
        self.search_table.resizeColumnsToContents()
        self.search_table.show()
        for line in event.table.splitlines():
            self.log(line)

    def on_epoch_ended(self, event: ev.EpochEnded) -> None:
        self.charts.epoch_ended(event)
        epochs = self._stage_epochs.get(event.stage, event.epoch)
        self.log(f"Stage {event.stage} epoch {event.epoch}/{epochs}: train loss {event.train_loss:.4f}, "
                 f"train acc {event.train_acc:.1%}, val loss {event.val_loss:.4f}, "
                 f"val acc {event.val_acc:.1%}, lr {event.lr:.2g} ({event.seconds:.1f} s)")

    def on_stage_started(self, event: ev.StageStarted) -> None:
        self._stage_epochs[event.stage] = event.epochs
        self.charts.stage_started(event.stage, event.epochs)
        what = "training the head" if event.stage == 1 else "fine-tuning"
        cache = ", on cached base features" if event.cached_features else ""
        self.log(f"Stage {event.stage}: {what} for {event.epochs} epochs, "
                 f"{event.trainable_params:,} trainable parameters{cache}.")

    def on_checkpoint_saved(self, event: ev.CheckpointSaved) -> None:
        self._checkpoints += 1
        self.log(f"Saved the best model so far (stage {event.stage} epoch {event.epoch}, "
                 f"val acc {event.val_acc:.1%}).")

    def on_run_finished(self, event: ev.RunFinished) -> None:
        self._finished_event = event
        how = "Stopped" if event.cancelled else "Finished"
        self.log(f"{how}: best val acc {event.best_val_acc:.1%} after {event.epochs_run} epochs "
                 f"in {event.seconds:.1f} s.")

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

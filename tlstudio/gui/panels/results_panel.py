"""The Results tab: evaluate a run, inspect its mistakes, try images or texts, export.

Every heavy step (loading weights, evaluating, predicting, exporting,
decoding thumbnails) runs through ``tasks.run_task``; this panel only arranges
what comes back. A text run shows its mistakes as a table of texts; "Try an
image" / "Try a text" is ``results_try.TryView``. The evaluation selector lists
what the run has (out-of-fold predictions, validation split, test split) and the
summary names the one shown. ``reset_for_new_project`` forgets everything of the
old project (run, tables, galleries, map, curves, what was tried).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
                               QSplitter, QStackedWidget, QTableView, QTabWidget, QVBoxLayout, QWidget)

from tlstudio.gui.widgets.run_curves import RunCurvesView
from tlstudio.gui.widgets.charts import ConfusionMatrixChart
from tlstudio.gui.panels.data_needs import DataNeedsView
from tlstudio.gui.panels.export_tab import ExportTab
from tlstudio.gui.panels.results_explain import ExplainControls
from tlstudio.gui.panels.results_try import TryView
from tlstudio.gui.widgets.embedding_map import EmbeddingMapView
from tlstudio.gui.widgets.zero_shot_baseline import ZeroShotBaseline
from tlstudio.gui.views import result_samples, result_task_type, result_task_views
from tlstudio.core.data.modality import modality_for
from tlstudio.core.runs.metric_names import metrics_line
from tlstudio.gui.jobs.results_jobs import load_and_evaluate
from tlstudio.gui.jobs.tasks import run_task

PARITY_SAMPLES = 8
NO_RUN = "Train a model to see its results here."
MATRIX_MIN_PX = 34              # per class: below it the matrix scrolls instead of overlapping its labels


class ResultsPanel(QWidget):
    evaluated = Signal(dict)            # the evaluation result now shown
    loadFailed = Signal(str)
    predicted = Signal(list)            # predict_images output shown in "Try an image"
    exported = Signal(dict)             # export_job output
    exportFailed = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("resultsPanel")
        self.setAcceptDrops(True)
        self.state = state
        self.run_dir: str | None = None
        self.loaded = None
        self.result: dict | None = None
        self._load_task = None
        self._tasks: list = []
        self._pending_load = False
        self._choices_task = None
        self._build()
        self.refresh_runs()
        state.projectReplaced.connect(self.reset_for_new_project)
        state.changed.connect(self._on_section_changed)
        state.runFinished.connect(self.show_run)

    # -- layout --------------------------------------------------------------------
    def _build(self) -> None:
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("runCombo")
        self.run_combo.setMinimumContentsLength(30)
        self.run_combo.activated.connect(lambda _i: self.load_selected())
        self.split_combo = QComboBox()
        self.split_combo.setObjectName("splitCombo")
        self.split_combo.setToolTip("What the figures below are measured on: out-of-fold predictions (each "
                                    "sample predicted by a head that never saw it), the validation split or "
                                    "the test split. Only what this run has is listed.")
        self.split_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.split_combo.activated.connect(lambda _i: self.load_selected())
        self.reload_button = QPushButton("Evaluate")
        self.reload_button.clicked.connect(self.load_selected)
        self.busy = QProgressBar()
        self.busy.setMaximumWidth(160)
        self.busy.setRange(0, 0)
        self.busy.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.run_combo, 1)
        top.addWidget(QLabel("Evaluate on:"))
        top.addWidget(self.split_combo)
        top.addWidget(self.reload_button)
        top.addWidget(self.busy)

        self.status_label = QLabel(NO_RUN)
        self.status_label.setObjectName("resultsStatus")
        self.status_label.setWordWrap(True)

        self.summary_label = QLabel("")
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.metrics_model = QStandardItemModel(0, 5, self)
        self.metrics_model.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        self.metrics_table = QTableView()
        self.metrics_table.setObjectName("metricsTable")
        self.metrics_table.setModel(self.metrics_model)
        self.metrics_table.verticalHeader().hide()
        self.metrics_table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        header = self.metrics_table.horizontalHeader()
        # Every column fits its contents once the rows are in (class names are never cut to "…"; a
        # narrow window scrolls); the last column takes what is left.
        header.setStretchLastSection(True)
        metrics = QWidget()
        col = QVBoxLayout(metrics)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.summary_label)
        col.addWidget(self.metrics_table, 1)

        self.confusion = ConfusionMatrixChart(self)
        self.confusion.cellClicked.connect(self.show_cell)
        self.confusion_scroll = QScrollArea(objectName="confusionScroll")
        self.confusion_scroll.setWidgetResizable(True)
        self.confusion_scroll.setWidget(self.confusion)
        self.class_results = upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(metrics)
        upper.addWidget(self.confusion_scroll)
        upper.setStretchFactor(0, 2)
        upper.setStretchFactor(1, 3)

        self.cell_note = QLabel("Click a cell of the confusion matrix to see its samples here.",
                                objectName="cellNote")
        self.try_view = TryView(lambda: self.loaded, self._track)
        self.try_view.predicted.connect(self.predicted)
        self.try_view.failed.connect(lambda message: self.status_label.setText(f"Prediction failed: {message}"))
        self.try_grid, self.try_text_edit, self.try_text_table = (self.try_view.grid, self.try_view.text_edit,
                                                                  self.try_view.text_table)
        # The predictions' galleries (images) or tables (texts): one view per modality (gui/views).
        self.samples = result_samples(self)
        self.misclassified_stack, self.cell_stack = QStackedWidget(), QStackedWidget()
        for view in self.samples.values():
            self.misclassified_stack.addWidget(view.misclassified)
            self.cell_stack.addWidget(view.cell)
        cell_page = QWidget()
        cell_col = QVBoxLayout(cell_page)
        cell_col.setContentsMargins(0, 0, 0, 0)
        cell_col.addWidget(self.cell_note)
        cell_col.addWidget(self.cell_stack, 1)
        self.cell_page = cell_page
        # What differs per task type (single- or multi-label): the upper half and the first two tabs.
        self.task_views = result_task_views(self)
        self.upper_stack, self.first_tab_stack, self.second_tab_stack = (QStackedWidget(), QStackedWidget(),
                                                                         QStackedWidget())
        for view in self.task_views.values():
            self.upper_stack.addWidget(view.upper)
            self.first_tab_stack.addWidget(view.first_tab)
            self.second_tab_stack.addWidget(view.second_tab)
        self.try_stack = self.try_view
        self.tabs = QTabWidget()
        self.tabs.addTab(self.first_tab_stack, "Misclassified")
        self.tabs.addTab(self.second_tab_stack, "Cell")
        self.tabs.addTab(self.try_stack, "Try an image")
        self.export_tab = ExportTab(self._export_context)
        self.export_tab.exported.connect(self.exported)
        self.export_tab.exportFailed.connect(self.exportFailed)
        self.tabs.addTab(self.export_tab, "Export")
        self.data_needs = DataNeedsView(self.state)
        self.tabs.addTab(self.data_needs, "How much more data")
        self.embedding_map = EmbeddingMapView(self.state)
        self.tabs.addTab(self.embedding_map, "Embedding map")
        self.curves_view = RunCurvesView()
        self.tabs.addTab(self.curves_view, "Training curves")

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.upper_stack)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([440, 300])   # the matrix first; the galleries need room for thumbnails and captions

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status_label)
        self.zero_shot = ZeroShotBaseline(self.state, self)      # what the class names alone achieve
        layout.addWidget(self.zero_shot)
        layout.addWidget(splitter, 1)
        self.explain_controls = ExplainControls(self)     # "Show where the model looks"
        self._set_model_actions_enabled(False)

    def run_modality(self) -> str:
        """The modality of the run shown (else the project's): its name picks the views."""
        info = getattr(self.loaded, "info", None) or {}
        return (self.result or {}).get("task") or info.get("task") or self.state.project.task

    def samples_view(self):
        return self.samples[self.run_modality()]

    def task_view(self):
        """The views of the shown result's task type (single-label, multi-label)."""
        name = result_task_type(self.result)
        view = self.task_views[name]
        self.try_view.show_task_type(name)
        self.upper_stack.setCurrentWidget(view.upper)
        self.first_tab_stack.setCurrentWidget(view.first_tab)
        self.second_tab_stack.setCurrentWidget(view.second_tab)
        return view

    def show_task_pages(self) -> None:
        name = self.run_modality()
        view = self.samples[name]
        self.misclassified_stack.setCurrentWidget(view.misclassified)
        self.cell_stack.setCurrentWidget(view.cell)
        self.try_view.show_modality(name)
        self.tabs.setTabText(2, view.try_title)

    def _set_model_actions_enabled(self, on: bool) -> None:
        self.try_view.set_available(on)
        self.export_tab.set_available(on)
        self.export_tab.set_task(self.run_modality())
        self.explain_controls.set_available(on)

    def _export_context(self) -> tuple[str | None, list[str]]:
        """The run to export and a few of its evaluated images for the parity check."""
        samples = [p["path"] for p in (self.result or {}).get("predictions", [])[:PARITY_SAMPLES]]
        return self.run_dir, samples

    def export(self, kind: str, target: str) -> None:
        """Export the loaded run (bundle | torchscript | onnx) to ``target`` in a worker."""
        task = self.export_tab.export(kind, target)
        if task is not None:
            self._track(task)

    # -- runs ----------------------------------------------------------------------
    def refresh_runs(self, select: str | None = None) -> None:
        current = select or self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for record in reversed(self.state.project.runs):   # newest first
            self.run_combo.addItem(record.label(), record.run_dir)
        index = self.run_combo.findData(current) if current else -1
        self.run_combo.setCurrentIndex(index if index >= 0 else (0 if self.run_combo.count() else -1))
        self.run_combo.blockSignals(False)
        self.reload_button.setEnabled(self.run_combo.count() > 0)

    @Slot()
    def reset_for_new_project(self) -> None:
        """Another project was opened or created: nothing of the old one stays (the "project changed"
        path every panel follows)."""
        if self._load_task is not None:
            self._load_task.cancel()
            self._load_task = None
        self.run_dir = None
        self.refresh_runs()
        self._clear_results()
        self.split_combo.clear()
        self.embedding_map.reset_for_new_project()
        self.data_needs.reset_for_new_project()
        self.explain_controls.reset_for_new_project()
        self.tabs.setCurrentIndex(0)
        self.status_label.setStyleSheet("")
        self.status_label.setText(NO_RUN if not self.run_combo.count()
                                  else "Choose a run and press Evaluate, or open this tab to evaluate the latest.")
        self._pending_load = self.run_combo.count() > 0

    @Slot(str)
    def _on_section_changed(self, section: str) -> None:
        if section == "runs":
            self.refresh_runs()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending_load and self._load_task is None:
            self.load_selected()

    @Slot(str)
    def show_run(self, run_dir: str) -> None:
        """A run just finished: select it and evaluate it."""
        self.refresh_runs(select=run_dir)
        self.load_run(run_dir)

    @Slot()
    def load_selected(self) -> None:
        run_dir = self.run_combo.currentData()
        if run_dir:
            same_run = str(run_dir) == self.run_dir
            self.load_run(run_dir, self.split_combo.currentData() if same_run else None)

    def load_run(self, run_dir: str, split: str | None = None) -> None:
        """Load ``run_dir`` and evaluate it on ``split`` (None: the first thing it has), in a worker."""
        self._pending_load = False
        if self._load_task is not None:
            self._load_task.cancel()
        self.run_dir = str(run_dir)
        self.loaded = None
        self._set_model_actions_enabled(False)
        where = self.split_combo.currentText() if split else "what it has"
        self.status_label.setText(f"Loading and evaluating {Path(run_dir).name} on {where}…")
        self.status_label.setStyleSheet("")
        self.confusion.show_message(f"Loading and evaluating {Path(run_dir).name}…")
        self.curves_view.show_run(run_dir)
        task = run_task(load_and_evaluate, self.run_dir, split, with_progress=True)
        task.finished.connect(self._on_evaluated)
        task.failed.connect(self._on_load_failed)
        self._load_task = task
        self._track(task)

    def _track(self, task) -> None:
        self._tasks = [t for t in self._tasks if t.is_running()] + [task]
        self.busy.show()
        task.done.connect(self._on_task_done)

    @Slot()
    def _on_task_done(self) -> None:
        if not any(t.is_running() and t is not self.sender() for t in self._tasks):
            self.busy.hide()

    @Slot(object)
    def _on_evaluated(self, payload) -> None:
        if self.sender() is not self._load_task:
            return                              # superseded by a newer load
        self._load_task = None
        self.loaded, result = payload
        self.result = result
        self._show_choices(result.get("choices") or [], result.get("evaluated_on"))
        self.task_view().show_summary(result)
        self._set_model_actions_enabled(True)
        # The parts that start Python work in workers (the matrix render, thumbnails, the map) wait
        # for the next event-loop turn: the summary's layout and paint run first without competing
        # for the GIL (a busy worker made that paint take 50-60 ms).
        QTimer.singleShot(0, self, lambda: self._show_details(result))     # dropped if the panel goes

    def _show_details(self, result: dict) -> None:
        if self.result is not result:
            return                              # cleared or replaced meanwhile
        self.task_view().show_views(result)
        self.evaluated.emit(result)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        if self.sender() is not self._load_task:
            return
        self._load_task = None
        self._clear_results()
        self.status_label.setText(f"Could not evaluate this run: {message}")
        self.status_label.setStyleSheet("color: #a40000;")
        self.loadFailed.emit(message)

    def _show_choices(self, choices: list, shown: str | None) -> None:
        self.split_combo.clear()
        for key, label in choices:
            self.split_combo.addItem(label, key)
        index = self.split_combo.findData(shown)
        if index < 0 and shown:
            self.split_combo.addItem(str(shown), shown)
            index = self.split_combo.count() - 1
        self.split_combo.setCurrentIndex(index)

    def _clear_results(self) -> None:
        self.result = None
        self.loaded = None
        self.metrics_model.removeRows(0, self.metrics_model.rowCount())
        self.summary_label.setText("")
        self.confusion.clear()
        self._size_matrix([])
        for view in (*self.samples.values(), *self.task_views.values()):
            view.clear()
        self.task_view()
        self.try_view.clear()
        self.tabs.setTabText(0, "Misclassified")
        self.tabs.setTabText(1, "Cell")
        self.cell_note.setText("Click a cell of the confusion matrix to see its samples here.")
        self.show_task_pages()
        self._set_model_actions_enabled(False)

    # -- showing a result ---------------------------------------------------------------
    def _show_result(self, result: dict) -> None:
        self.result = result
        view = self.task_view()
        view.show_summary(result)
        view.show_views(result)

    def show_status(self, result: dict) -> None:
        """The status line: the run, how many samples, measured on what."""
        n = result.get("samples", len(result["predictions"]))
        source = result.get("source", "")
        skipped = result.get("skipped") or []
        self.status_label.setStyleSheet("")
        noun = modality_for(self.run_modality()).noun
        self.status_label.setText(f"{Path(self.run_dir).name}: evaluated on {n} {noun} ({source})."
                                  + (f" {len(skipped)} unreadable {noun[:-1]}(s) skipped." if skipped else ""))

    def show_class_summary(self, result: dict) -> None:
        """The status line, the headline numbers and the per-class table."""
        self.show_status(result)
        noun = modality_for(self.run_modality()).noun
        source = result.get("source", "")
        self.summary_label.setText(f"<b>{metrics_line(result, noun)}</b>")
        self.summary_label.setToolTip(f"Measured on: {source}")
        model = self.metrics_model
        model.removeRows(0, model.rowCount())
        for name, m in result["per_class"].items():
            model.appendRow(self._metric_row(name, m["precision"], m["recall"], m["f1"], m["support"]))
        self.metrics_table.resizeColumnsToContents()
        self.tabs.setTabText(0, f"Misclassified ({len(result['misclassified'])})")
        self.tabs.setTabText(1, "Cell (click the matrix)")
        self.cell_note.setText("Click a cell of the confusion matrix to see its samples here.")

    def show_class_views(self, result: dict) -> None:
        """The confusion matrix and the galleries (their images are made in workers)."""
        self.confusion.set_matrix(result["confusion_matrix"], result["classes"])
        self._size_matrix(result["classes"])
        self.show_task_pages()
        shown = self.samples_view()
        for view in self.samples.values():
            if view is not shown:
                view.clear()
        shown.show_misclassified(result["misclassified"])

    def _size_matrix(self, classes: list[str]) -> None:
        """Room for every cell and label: a window too small for it scrolls the matrix instead of
        drawing numbers and names over each other."""
        if not classes:
            self.confusion.setMinimumSize(0, 0)
            return
        label_px = max(self.fontMetrics().horizontalAdvance(str(c)) for c in classes)
        side = len(classes) * MATRIX_MIN_PX
        self.confusion.setMinimumSize(side + label_px + 90, side + label_px + 70)

    @staticmethod
    def _metric_row(name, precision, recall, f1, support) -> list[QStandardItem]:
        cells = [QStandardItem(str(name))]
        for value in (precision, recall, f1):
            cells.append(QStandardItem(f"{value:.3f}"))
        cells.append(QStandardItem(str(int(support))))
        for cell in cells[1:]:
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return cells

    @Slot(int, int)
    def show_cell(self, true_index: int, predicted_index: int) -> None:
        """Show the images of one confusion-matrix cell with their confidence."""
        if self.result is None:
            return
        classes = self.result["classes"]
        true_name, predicted_name = classes[true_index], classes[predicted_index]
        hits = [p for p in self.result["predictions"]
                if p["true"] == true_name and p["predicted"] == predicted_name]
        self.cell_note.setText(f"No samples of class '{true_name}' were predicted as '{predicted_name}'."
                               if not hits else f"True class '{true_name}', predicted '{predicted_name}':")
        self.samples_view().show_cell(hits, true_name, predicted_name)
        self.tabs.setTabText(1, f"{true_name} → {predicted_name} ({len(hits)})")
        self.tabs.setCurrentIndex(1)

    # -- try an image or a text ----------------------------------------------------------
    def try_images(self, paths: list[str]) -> None:
        """Predict the loaded model's top classes for these files, in a worker."""
        if not self.try_view.try_images(paths):
            self.status_label.setText("Load a run first; then images can be classified.")
            return
        self.tabs.setCurrentIndex(2)

    def try_text(self, text: str) -> None:
        """Put ``text`` in the "Try a text" box; its prediction follows once the debounce ends."""
        self.tabs.setCurrentIndex(2)
        self.try_view.try_text(text)

    @property
    def try_text_result(self) -> list[dict] | None:
        return self.try_view.text_result

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and self.loaded is not None and self.samples_view().accepts_drops:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        files = [p for p in paths if os.path.isfile(p)]
        if files:
            self.try_images(files)
            event.acceptProposedAction()

    # -- lifetime ----------------------------------------------------------------------------
    def is_running(self) -> bool:
        if self.export_tab.task is not None and self.export_tab.task.is_running():
            return True
        grids = (*self.samples.values(), *self.task_views.values(), self.try_grid)
        if self.explain_controls.is_running():
            return True
        views = (self.data_needs, self.embedding_map)
        return (any(t.is_running() for t in self._tasks) or any(g.is_running() for g in grids)
                or any(v.is_running() for v in views))

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        """Cancel what can be cancelled and wait for this panel's workers to end."""
        ok = True
        for task in self._tasks:
            task.cancel()
            ok = task.wait(timeout_ms) and ok
        for grid in (*self.samples.values(), *self.task_views.values(), self.try_grid):
            ok = grid.stop_and_wait(timeout_ms) and ok
        for view in (self.data_needs, self.embedding_map):
            ok = view.stop_and_wait(timeout_ms) and ok
        return self.explain_controls.stop_and_wait(timeout_ms) and ok

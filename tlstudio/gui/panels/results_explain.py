"""The Results tab's "Show where the model looks" toggle (``ExplainControls``).

Image runs: the misclassified gallery, a matrix cell's gallery and "Try an image"
show Grad-CAM overlays instead of plain thumbnails. Text runs: the text typed in
"Try a text" and the selected misclassified (or cell) text show their words
highlighted by attribution for the predicted class. Everything is computed by
worker jobs (``jobs/explain_jobs.py``) on a private copy of the loaded model; the
panel only tells this object when a run was loaded or a prediction shown.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QCheckBox

from tlstudio.gui.jobs.explain_jobs import ExplainModel, highlighted_text
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.widgets.heatmap_view import GridHeatmaps, TextHighlight

IMAGE_LABEL = "Show where the model looks"
TEXT_LABEL = "Show the words that decide"
TOOLTIP = ("Image runs: Grad-CAM heat maps over the images (red: where the evidence for the predicted class "
           "lies). Text runs: words coloured by how much they pushed the prediction.")


class ExplainControls(QObject):
    def __init__(self, panel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.model: ExplainModel | None = None
        self.toggle = QCheckBox(IMAGE_LABEL, objectName="explainToggle")
        self.toggle.setToolTip(TOOLTIP)
        self.toggle.toggled.connect(self._on_toggled)
        panel.tabs.setCornerWidget(self.toggle, Qt.Corner.TopRightCorner)
        self.grids = [GridHeatmaps(grid, self) for grid in (panel.misclassified_grid, panel.cell_grid,
                                                             panel.try_grid)]
        self.try_highlight = TextHighlight("tryTextHighlight")
        panel.try_text_table.parentWidget().layout().addWidget(self.try_highlight)
        self.table_highlights = {}
        for table in (panel.misclassified_texts, panel.cell_texts):
            highlight = TextHighlight(f"{table.view.objectName()}Highlight")
            table.layout().addWidget(highlight)
            self.table_highlights[table] = highlight
            table.view.selectionModel().currentRowChanged.connect(
                lambda current, _previous, t=table: self._on_row_selected(t, current))
        self._text_tasks: dict[object, object] = {}     # highlight -> its newest task
        panel.evaluated.connect(self._on_evaluated)
        panel.loadFailed.connect(lambda _message: self._set_model(None))
        panel.predicted.connect(self._on_predicted)

    # -- state -----------------------------------------------------------------------
    def set_available(self, on: bool) -> None:
        """The toggle acts only on a loaded run; before one, it is off and says why."""
        self.toggle.setEnabled(on)
        self.toggle.setToolTip(TOOLTIP if on else "Load or train a run first: this shows where that run's model "
                               "looks (images) or which words decide (texts).")

    def reset_for_new_project(self) -> None:
        """A new project: the toggle is off, labelled for the project's task, and nothing is highlighted."""
        self.toggle.blockSignals(True)
        self.toggle.setChecked(False)
        self.toggle.blockSignals(False)
        self._on_toggled(False)
        self._set_model(None)
        self.toggle.setText(TEXT_LABEL if self.panel.state.project.task == "text" else IMAGE_LABEL)
        self.set_available(False)

    def _is_text(self) -> bool:
        return self.panel.is_text_run()

    def _set_model(self, loaded) -> None:
        self.model = ExplainModel(loaded) if loaded is not None else None
        for grid in self.grids:
            grid.set_model(None if self._is_text() else self.model)
        for highlight in [self.try_highlight, *self.table_highlights.values()]:
            highlight.clear()

    @Slot(dict)
    def _on_evaluated(self, _result: dict) -> None:
        self.toggle.setText(TEXT_LABEL if self._is_text() else IMAGE_LABEL)
        self._set_model(self.panel.loaded)
        if self.toggle.isChecked() and self._is_text():
            self._highlight_try_text()

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        text = self._is_text()
        for grid in self.grids:
            grid.set_enabled(on and not text)
        if not on:
            self._text_tasks.clear()
            for highlight in [self.try_highlight, *self.table_highlights.values()]:
                highlight.clear()
            return
        if text:
            self._highlight_try_text()
            for table in self.table_highlights:
                current = table.view.currentIndex()
                if current.isValid():
                    self._on_row_selected(table, current)

    # -- texts ----------------------------------------------------------------------------
    @Slot(list)
    def _on_predicted(self, _predictions: list) -> None:
        if self.toggle.isChecked() and self._is_text():
            self._highlight_try_text()

    def _highlight_try_text(self) -> None:
        text = self.panel.try_text_edit.toPlainText().strip()
        if text:
            self._highlight(self.try_highlight, text, None)
        else:
            self.try_highlight.clear()

    def _on_row_selected(self, table, current) -> None:
        if not (self.toggle.isChecked() and self._is_text() and current.isValid()):
            return
        row = table.model.rows[table.proxy.mapToSource(current).row()]
        predicted, text = str(row[1]), str(row[3])
        self._highlight(self.table_highlights[table], text, predicted)

    def _highlight(self, highlight: TextHighlight, text: str, class_name: str | None) -> None:
        if self.model is None:
            return
        highlight.show_busy()
        task = run_task(highlighted_text, self.model, text, class_name)
        self._text_tasks[highlight] = task

        def shown(result: dict) -> None:
            if self._text_tasks.get(highlight) is task and self.toggle.isChecked():
                highlight.show_result(result)

        def failed(message: str) -> None:
            if self._text_tasks.get(highlight) is task:
                highlight.show_message(f"Could not explain this text: {message}")
        task.finished.connect(shown)
        task.failed.connect(failed)

    # -- lifetime ---------------------------------------------------------------------------
    def is_running(self) -> bool:
        return any(g.is_running() for g in self.grids) or any(t.is_running() for t in self._text_tasks.values())

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        ok = all([g.stop_and_wait(timeout_ms) for g in self.grids])
        for task in list(self._text_tasks.values()):
            task.cancel()
            ok = task.wait(timeout_ms) and ok
        return ok

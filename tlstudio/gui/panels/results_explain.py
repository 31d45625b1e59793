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

from tlstudio.gui.jobs.explain_jobs import ExplainModel
from tlstudio.gui.views import RESULT_EXPLAIN, result_explainers

TOOLTIP = ("Image runs: Grad-CAM heat maps over the images (red: where the evidence for the predicted class "
           "lies). Text runs: words coloured by how much they pushed the prediction.")


class ExplainControls(QObject):
    """The toggle; what it shows is the explain view (gui/views) of the run's modality."""

    def __init__(self, panel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.model: ExplainModel | None = None
        self.toggle = QCheckBox(RESULT_EXPLAIN["image"].label, objectName="explainToggle")
        self.toggle.setToolTip(TOOLTIP)
        self.toggle.toggled.connect(self._on_toggled)
        panel.tabs.setCornerWidget(self.toggle, Qt.Corner.TopRightCorner)
        self.views = result_explainers(self, panel.samples)
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
        self.toggle.setText(RESULT_EXPLAIN[self.panel.state.project.task].label)
        self.set_available(False)

    def current(self):
        """The explain view of the run's modality."""
        return self.views[self.panel.run_modality()]

    def _set_model(self, loaded) -> None:
        self.model = ExplainModel(loaded) if loaded is not None else None
        shown = self.current()
        for view in self.views.values():
            view.set_model(self.model if view is shown else None)

    @Slot(dict)
    def _on_evaluated(self, _result: dict) -> None:
        self.toggle.setText(self.current().label)
        self._set_model(self.panel.loaded)
        if self.toggle.isChecked():
            self.current().refresh()

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        shown = self.current()
        for view in self.views.values():
            view.set_enabled(on and view is shown)

    @Slot(list)
    def _on_predicted(self, _predictions: list) -> None:
        if self.toggle.isChecked():
            self.current().refresh()

    # -- lifetime ---------------------------------------------------------------------------
    def is_running(self) -> bool:
        return any(view.is_running() for view in self.views.values())

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        return all([view.stop_and_wait(timeout_ms) for view in self.views.values()])

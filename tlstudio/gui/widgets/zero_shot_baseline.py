"""The Results tab's zero-shot baseline row: what the class names alone achieve, and pre-labelling the pool.

"Measure" runs ``core.zeroshot`` on the Data tab's curated dataset in a worker and shows
"Zero-shot (class names): acc … on N labelled …" beside the run's figures. When the data
has unlabeled samples, "Pre-label the pool…" asks first, then stores the suggested classes
in the Project (``data.suggestions``): suggestions shown for the user to accept, never labels.
Without a model (images with no CLIP-style model on the computer) the row says so plainly.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from tlstudio.core.data.modality import modality_for
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.jobs.zero_shot_jobs import zero_shot_job

NOT_MEASURED = "Zero-shot baseline (class names only, no training): not measured yet."


class ZeroShotBaseline(QWidget):
    measured = Signal(object)          # the ZeroShotResult shown
    failed = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("zeroShotBaseline")
        self.state = state
        self.result = None
        self._task = None
        self.label = QLabel(NOT_MEASURED, objectName="zeroShotLabel", wordWrap=True)
        self.measure_button = QPushButton("Measure zero-shot", objectName="zeroShotMeasure")
        self.measure_button.setToolTip("Classify the data from its class names (and the descriptions written in "
                                       "the Data tab) with no training: the baseline a trained head should beat.")
        self.measure_button.clicked.connect(self.measure)
        self.prelabel_button = QPushButton("Pre-label the pool…", objectName="zeroShotPrelabel")
        self.prelabel_button.setToolTip("Store the zero-shot class of every unlabeled sample as a suggestion "
                                        "(you accept or change each; nothing is labelled by this).")
        self.prelabel_button.clicked.connect(lambda: self.store_suggestions())
        self.prelabel_button.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.measure_button)
        row.addWidget(self.prelabel_button)
        # Asked before suggestions are stored; tests answer it.
        self.confirm = lambda text: QMessageBox.question(self, "Pre-label the pool", text) == \
            QMessageBox.StandardButton.Yes
        state.projectReplaced.connect(self.reset)
        state.datasetChanged.connect(self.reset)

    def reset(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.result = None
        self.label.setText(NOT_MEASURED)
        self.prelabel_button.hide()
        self.measure_button.setEnabled(True)

    def measure(self) -> None:
        index = self.state.curated_dataset()
        if index is None:
            self.label.setText("Zero-shot baseline: choose a dataset in the Data tab first.")
            return
        project = self.state.project
        self.measure_button.setEnabled(False)
        self.label.setText("Zero-shot baseline: embedding the class names and the data…")
        self._task = run_task(zero_shot_job, index, project.task, dict(project.data.class_descriptions),
                              with_progress=True, on_finished=self.show_result, on_failed=self.show_failure,
                              on_progress=self._progress, parent=self)

    def _progress(self, done: int, total: int) -> None:
        self.label.setText(f"Zero-shot baseline: embedding {done}/{total}…")

    def show_result(self, result) -> None:
        self._task = None
        self.result = result
        self.measure_button.setEnabled(True)
        noun = modality_for(self.state.project.task).noun
        cal = result.calibration
        self.label.setText(f"{result.baseline_line(noun)} · {result.method} · probabilities calibrated "
                           f"(temperature {cal['temperature']:.3f}, from {cal['fitted_on']})")
        self.prelabel_button.setVisible(bool(result.pool))
        self.prelabel_button.setText(f"Pre-label the pool ({len(result.pool)})…")
        self.measured.emit(result)

    def show_failure(self, message: str) -> None:
        self._task = None
        self.measure_button.setEnabled(True)
        self.label.setText(f"Zero-shot baseline unavailable: {message}")
        self.failed.emit(message)

    def store_suggestions(self) -> bool:
        """After the user agrees, the pool's zero-shot classes become the project's suggestions."""
        from tlstudio.core.zeroshot.run import suggestions_for_project

        if self.result is None or not self.result.pool:
            return False
        n = len(self.result.pool)
        if not self.confirm(f"Store the zero-shot class of {n} unlabeled sample(s) as suggestions in the "
                            "project? They stay suggestions until you accept them; no label changes and no "
                            "file is written."):
            return False
        self.state.project.data.suggestions = suggestions_for_project(self.result)
        self.state.mark_changed("data")
        self.prelabel_button.setText(f"Pool pre-labelled ({n})")
        return True

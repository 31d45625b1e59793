"""A loaded run's training curves (Results tab): the same two charts the Train tab drew, from the files
in the run folder (the epoch history, or the head search's curves)."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from tlstudio.gui.widgets.charts import TrainingCharts


class RunCurvesView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("runCurvesView")
        self.charts = TrainingCharts(self)
        self.note = QLabel("Load a run to see how its head was fitted.")
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.charts.loss)
        row.addWidget(self.charts.accuracy)
        col = QVBoxLayout(self)
        col.addWidget(self.note)
        col.addLayout(row, 1)

    def show_run(self, run_dir) -> bool:
        shown = self.charts.show_run(run_dir)
        if not shown:
            self.charts.reset()
        self.note.setText("The curves this run saved: each candidate of the head search faint, the winner bold, "
                          "the refit's training loss; or the epoch loop's train and validation curves."
                          if shown else "This run saved no training curves.")
        return shown

    def clear(self) -> None:
        self.charts.reset()
        self.note.setText("Load a run to see how its head was fitted.")

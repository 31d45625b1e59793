"""The Data tab's part that differs per task type: how the dataset is summed up, and for a
multi-label dataset its scan report (labels per sample, distinct label sets, rows without a label)
and the co-occurrence of its labels. Chosen by the scanned index's ``task_type`` (gui/views)."""
from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from tlstudio.gui.widgets.charts import ConfusionMatrixChart, MatrixTitles

COOCCURRENCE = MatrixTitles("Labels on the same sample (diagonal: each label's count)", "label", "label")
MAX_MATRIX_PX = 260           # taller matrices scroll
CELL_PX = 24                 # per label: below it the matrix scrolls
MAX_PAIRS = 5


class SingleLabelData:
    """One class per sample: the class counts say it all."""

    widget = None

    def __init__(self, browser) -> None:
        pass

    def summary(self, index, noun: str) -> str:
        return f"{len(index.samples):,} {noun} in {len(index.classes)} classes"

    def show(self, index) -> None:
        """Nothing beyond the class counts."""


class MultiLabelData:
    """Several labels per sample: the label-set report and the co-occurrence matrix."""


    def __init__(self, browser) -> None:
        self.report = QLabel(objectName="multilabelReport", wordWrap=True)
        self.matrix = ConfusionMatrixChart()
        self.matrix.setObjectName("cooccurrenceChart")
        self.matrix.cellClicked.connect(lambda row, _column: browser.class_combo.setCurrentIndex(row))
        self.scroll = QScrollArea(objectName="cooccurrenceScroll", widgetResizable=True)
        self.scroll.setWidget(self.matrix)
        self.widget = QWidget()
        col = QVBoxLayout(self.widget)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.report)
        col.addWidget(self.scroll, 1)

    def summary(self, index, noun: str) -> str:
        return f"{len(index.samples):,} {noun} with {len(index.classes)} labels (multi-label)"

    def show(self, index) -> None:
        """``index``'s report (None: nothing shown)."""
        report = (index.to_report().get("multilabel") if index is not None else None) or {}
        if not report:
            self.report.setText("")
            self.matrix.clear()
            return
        from tlstudio.core.data.label_sets import format_multilabel_report

        names = list(index.classes)
        lines = [html.escape(line) for line in format_multilabel_report(report, names, top=MAX_PAIRS).splitlines()]
        head, _, rest = lines[0].partition(":")           # "Multi-label: 1.78 labels per sample …"
        self.report.setText("<br>".join([f"<b>{head}</b>:{rest}"] + lines[1:]))
        co = report["cooccurrence"]
        self.matrix.set_matrix(co, names, COOCCURRENCE)
        label_px = max((self.matrix.fontMetrics().horizontalAdvance(n) for n in names), default=0)
        side = len(names) * CELL_PX
        self.matrix.setMinimumSize(side + label_px + 80, side + label_px + 60)
        self.scroll.setMinimumHeight(min(MAX_MATRIX_PX, side + label_px + 64))

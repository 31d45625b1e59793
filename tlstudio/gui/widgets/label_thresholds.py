"""A multi-label run's per-label table with a threshold slider for the selected label.

The figures come from ``core.runs.multilabel_metrics`` on the run's probabilities and true labels
(plain N×L arrays). A slider step recomputes them on the GUI thread while the arrays are small
(``INLINE_CELLS``: well under a millisecond), else in a worker (the newest thresholds win; a step
taken meanwhile is computed next) -- benchmarks/bench_label_thresholds.py has the figures. What
costs more (galleries, the matrix image) listens to ``thresholdsSettled``, sent once the slider
rests. A step makes a handful of Qt calls, not one per cell: the table is a model whose ``data``
reads the figures (PySide6 6.12 on Python 3.11 loses a reference to None or True on every call
into Qt that returns nothing or a bool, so calls in a tight loop are kept few).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QSlider, QTableView,
                               QVBoxLayout, QWidget)

from tlstudio.core.runs.multilabel_metrics import DEFAULT_THRESHOLD, MultilabelMetrics, multilabel_metrics
from tlstudio.gui.jobs.tasks import run_task

HEADERS = ["Label", "Support", "Precision", "Recall", "F1", "AP", "Threshold"]
THRESHOLD_COLUMN = HEADERS.index("Threshold")
SLIDER_STEPS = 1000                  # thresholds to 0.001
INLINE_CELLS = 20_000                # samples × labels recomputed on the GUI thread; more go to a worker
SETTLE_MS = 250                      # galleries and the matrix follow once the slider rests this long
TUNED_COLOR = "#1a5fb4"


def comparison_html(at_default: MultilabelMetrics | None, tuned: MultilabelMetrics, now: MultilabelMetrics,
                    changed: bool) -> str:
    """The small table that answers "do the tuned thresholds pay?": micro/macro F1 at one threshold of
    0.5 for every label (None: still being computed), at the tuned thresholds, and (once a slider
    moved) at the thresholds set now."""
    rows = [(f"one threshold {DEFAULT_THRESHOLD:g} for every label", at_default),
            ("tuned per label (stored in the run)", tuned)]
    if changed:
        rows.append(("as set now", now))
    cells = "".join(f"<tr><td>{name}</td><td align='right'>{'…' if m is None else f'{m.micro_f1:.3f}'}</td>"
                    f"<td align='right'>{'…' if m is None else f'{m.macro_f1:.3f}'}</td></tr>" for name, m in rows)
    return ("<table cellspacing='0' cellpadding='2'><tr><th align='left'>Thresholds</th>"
            "<th align='right'>micro-F1</th><th align='right'>macro-F1</th></tr>" + cells + "</table>")


SIZE_ROWS = 20         # rows measured when the columns are fitted to their contents


class LabelTableModel(QAbstractTableModel):
    """The table's rows, read from the figures now shown (``owner.metrics``) and the thresholds."""

    RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __init__(self, owner: "LabelThresholds") -> None:
        super().__init__(owner)
        self.owner = owner
        self._italic = QFont()
        self._italic.setItalic(True)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() or self.owner.metrics is None else len(self.owner.labels)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def text(self, row: int, column: int) -> str:
        owner = self.owner
        name = owner.labels[row]
        if column == 0:
            return name
        if column == THRESHOLD_COLUMN:
            return f"{owner.thresholds[row]:.3f}"
        m = owner.metrics.per_label[name]
        key = HEADERS[column].lower()
        if key == "support":
            return str(m["support"])
        return "—" if m[key] is None else f"{m[key]:.3f}"

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.owner.metrics is None:
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return self.RIGHT
        if column == THRESHOLD_COLUMN and role in (Qt.ItemDataRole.FontRole, Qt.ItemDataRole.ToolTipRole):
            tuned = self.owner.is_tuned(row)
            if role == Qt.ItemDataRole.FontRole:
                return None if tuned else self._italic
            return "tuned on the run's predictions" if tuned else f"tuned: {self.owner.tuned[row]:.3f}"
        return None

    def refresh(self, reset: bool = False) -> None:
        if reset:
            self.beginResetModel()
            self.endResetModel()
        elif self.rowCount():
            self.dataChanged.emit(self.index(0, 1), self.index(self.rowCount() - 1, len(HEADERS) - 1))


class LabelThresholds(QWidget):
    """The per-label table (label, support, precision, recall, F1, AP, threshold) and the slider."""

    labelSelected = Signal(int)          # the row chosen in the table
    thresholdsChanged = Signal()         # at every slider step (the figures here are already updated)
    thresholdsSettled = Signal()         # once the thresholds rest: galleries and matrix may follow

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.labels: list[str] = []
        self.probs = np.zeros((0, 0))
        self.targets = np.zeros((0, 0), dtype=bool)
        self.tuned = np.zeros(0)
        self.thresholds = np.zeros(0)
        self.metrics: MultilabelMetrics | None = None
        self.at_tuned: MultilabelMetrics | None = None           # the run's figures
        self.at_default: MultilabelMetrics | None = None         # one threshold of 0.5 for every label
        self._default_task = None
        self.selected = -1
        self._task = None                    # the worker computing the figures (large runs)
        self._pending: np.ndarray | None = None
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.thresholdsSettled)
        self._build()

    def _build(self) -> None:
        self.comparison = QLabel(objectName="thresholdComparison", textFormat=Qt.TextFormat.RichText)
        self.comparison.setToolTip("F1 over all (sample, label) decisions (micro) and the mean of the labels' "
                                   "F1 (macro), with one threshold for every label and with each label's own")
        self.model = LabelTableModel(self)
        self.table = QTableView(objectName="labelTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        # Column widths from the first rows only: measuring every cell of a 100-label table took
        # 35-60 ms on the GUI thread when a result opened (figures are fixed-width numbers anyway).
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setResizeContentsPrecision(SIZE_ROWS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.selectionModel().currentRowChanged.connect(lambda current, _prev: self.select(current.row()))

        self.slider_title = QLabel("Threshold:", objectName="thresholdTitle")
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="thresholdSlider")
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_STEPS // 20)
        self.slider.valueChanged.connect(self._on_slider)
        self.value_label = QLabel(objectName="thresholdValue")
        self.value_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.000 "))
        self.tuned_button = QPushButton("Tuned", objectName="labelTunedButton")
        self.tuned_button.setToolTip("This label's threshold back to the one tuned on the run's predictions")
        self.tuned_button.clicked.connect(lambda: self.set_threshold(self.selected, self.tuned[self.selected]))
        self.all_tuned_button = QPushButton("All tuned", objectName="allTunedButton")
        self.all_tuned_button.clicked.connect(lambda: self.set_all(self.tuned))
        self.all_default_button = QPushButton(f"All {DEFAULT_THRESHOLD:g}", objectName="allDefaultButton")
        self.all_default_button.clicked.connect(lambda: self.set_all(np.full(len(self.labels), DEFAULT_THRESHOLD)))
        row = QHBoxLayout()
        row.addWidget(self.slider_title)
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)
        row.addWidget(self.tuned_button)
        row.addWidget(self.all_tuned_button)
        row.addWidget(self.all_default_button)
        self.counts_label = QLabel(objectName="labelCounts")
        self.counts_label.setStyleSheet("color: #555555;")

        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.comparison)
        col.addWidget(self.table, 1)
        col.addLayout(row)
        col.addWidget(self.counts_label)
        self._enable(False)

    def _enable(self, on: bool) -> None:
        for widget in (self.slider, self.tuned_button, self.all_tuned_button, self.all_default_button):
            widget.setEnabled(on)

    # -- data ------------------------------------------------------------------------------
    def set_data(self, labels: list[str], probs, targets, tuned, at_tuned: MultilabelMetrics | None = None) -> None:
        """A run's N×L probabilities and 0/1 targets, its L tuned thresholds and (when the evaluation
        brought them) its figures at those thresholds."""
        self.labels = [str(x) for x in labels]
        self.probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(self.labels))
        self.targets = np.asarray(targets).astype(bool).reshape(self.probs.shape)
        self.tuned = np.asarray(tuned, dtype=np.float64).reshape(len(self.labels))
        self.thresholds = self.tuned.copy()
        self.metrics = self.at_tuned = at_tuned or self._compute(self.tuned)
        self._task, self._pending = None, None
        default = np.full(len(self.labels), DEFAULT_THRESHOLD)
        self.at_default, self._default_task = None, None
        if self.probs.size <= INLINE_CELLS:
            self.at_default = self._compute(default)
        else:
            task = run_task(multilabel_metrics, self.probs, self.targets, default, self.labels)
            self._default_task = task
            task.finished.connect(lambda metrics: self._on_default(task, metrics))
        self.model.refresh(reset=True)
        self._show_comparison()
        self._fit_columns()
        self._enable(bool(self.labels))
        self.selected = -1
        if self.labels:
            self.select(0)

    def _fit_columns(self) -> None:
        """Columns fitted to the first ``SIZE_ROWS`` rows; the label column to the longest name."""
        self.table.resizeColumnsToContents()
        if self.labels:
            metrics = self.table.fontMetrics()
            longest = max(metrics.horizontalAdvance(name) for name in self.labels) + 16      # cell padding
            self.table.setColumnWidth(0, max(self.table.columnWidth(0), longest))

    def _on_default(self, task, metrics: MultilabelMetrics) -> None:
        if task is self._default_task:
            self._default_task = None
            self.at_default = metrics
            self._show_comparison()

    def clear(self) -> None:
        self.labels, self.metrics, self.at_tuned, self.at_default, self.selected = [], None, None, None, -1
        self._default_task = None
        self.thresholds = self.tuned = np.zeros(0)
        self._task, self._pending = None, None
        self.model.refresh(reset=True)
        self.comparison.setText("")
        self.counts_label.setText("")
        self.value_label.setText("")
        self.slider_title.setText("Threshold:")
        self._enable(False)

    def _compute(self, thresholds) -> MultilabelMetrics:
        return multilabel_metrics(self.probs, self.targets, thresholds, self.labels)

    # -- thresholds ----------------------------------------------------------------------------
    def select(self, row: int) -> None:
        """Show label ``row`` under the slider."""
        if not 0 <= row < len(self.labels) or row == self.selected:
            return
        self.selected = row
        self.slider_title.setText(f"Threshold for '{self.labels[row]}':")
        self._place_slider()
        self._show_counts()
        if self.table.currentIndex().row() != row:
            self.table.selectRow(row)        # -> currentRowChanged -> select(row): a no-op now
        self.labelSelected.emit(row)

    def set_threshold(self, row: int, value: float) -> None:
        """Label ``row``'s threshold to ``value``: its row, the summary and the comparison follow now."""
        if not 0 <= row < len(self.labels):
            return
        self.thresholds[row] = float(value)
        self._recompute()
        if row == self.selected:
            self._place_slider()

    def set_all(self, thresholds) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64).copy()
        self._recompute()
        self._place_slider()

    def _on_slider(self, step: int) -> None:
        if self.selected >= 0:
            self.thresholds[self.selected] = step / SLIDER_STEPS
            self._recompute()
            self.value_label.setText(f"{self.thresholds[self.selected]:.3f}")

    def _place_slider(self) -> None:
        value = float(self.thresholds[self.selected])
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * SLIDER_STEPS))
        self.slider.blockSignals(False)
        self.value_label.setText(f"{value:.3f}")

    def _recompute(self) -> None:
        """The figures at the thresholds now: at once for a small run, else from a worker."""
        if self.probs.size <= INLINE_CELLS:
            self._show_metrics(self._compute(self.thresholds))
            return
        self._pending = self.thresholds.copy()
        if self._task is None:
            self._start_worker()

    def _start_worker(self) -> None:
        thresholds, self._pending = self._pending, None
        task = run_task(multilabel_metrics, self.probs, self.targets, thresholds, self.labels)
        self._task = task
        task.finished.connect(lambda metrics: self._on_computed(task, thresholds, metrics))
        task.failed.connect(lambda _message: self._on_computed(task, thresholds, None))

    def _on_computed(self, task, thresholds: np.ndarray, metrics: MultilabelMetrics | None) -> None:
        if task is not self._task:
            return                               # the run shown changed meanwhile
        self._task = None
        if self._pending is not None:            # the slider moved on: compute the newest thresholds
            self._start_worker()
        elif metrics is not None and np.array_equal(thresholds, self.thresholds):
            self._show_metrics(metrics)

    def _show_metrics(self, metrics: MultilabelMetrics) -> None:
        self.metrics = metrics
        self.model.refresh()
        self._show_comparison()
        self._show_counts()
        self.thresholdsChanged.emit()
        self._settle.start()

    def is_computing(self) -> bool:
        return self._task is not None or self._default_task is not None

    # -- showing ------------------------------------------------------------------------------------
    def changed(self) -> bool:
        """Whether any threshold differs from the tuned one."""
        return bool(len(self.labels)) and not np.array_equal(self.thresholds, self.tuned)

    def is_tuned(self, row: int) -> bool:
        return bool(np.isclose(self.thresholds[row], self.tuned[row]))

    def _show_comparison(self) -> None:
        if self.metrics is not None and self.at_tuned is not None:
            self.comparison.setText(comparison_html(self.at_default, self.at_tuned, self.metrics, self.changed()))

    def _show_counts(self) -> None:
        if self.metrics is None or self.selected < 0:
            return
        m = self.metrics.per_label[self.labels[self.selected]]
        self.counts_label.setText(f"'{self.labels[self.selected]}' at {self.thresholds[self.selected]:.3f}: "
                                  f"{m['tp']} found · {m['fp']} false positives · {m['fn']} missed · "
                                  f"{m['tn']} correctly left off")

    def figure(self, label: str, key: str):
        """A figure of the table now (tests, other views): ``figure("billing", "f1")``."""
        return None if self.metrics is None else self.metrics.per_label[label][key]

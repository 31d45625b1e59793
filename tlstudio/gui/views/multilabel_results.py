"""The Results tab of a multi-label run (several labels per image or text).

In place of the single-label table and confusion matrix: the per-label table with a threshold
slider (``widgets.label_thresholds``), a label-confusion matrix (diagonal: samples where a label
was found; off it: a label predicted on samples of another label that do not carry it), and for
the selected label two galleries (images) or tables (texts) -- the samples it was wrongly given
and those it missed -- drawn by the modality's own sample view. Everything is recomputed from the
run's N×L probabilities and true labels with ``core.runs.multilabel_metrics``.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from tlstudio.core.data.modality import modality_for
from tlstudio.core.runs.label_set_evaluation import LabelArrays, label_arrays
from tlstudio.core.runs.metric_names import source_name
from tlstudio.core.runs.multilabel_metrics import MultilabelMetrics, cooccurrence, predicted_matrix
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.widgets.charts import ConfusionMatrixChart, MatrixTitles
from tlstudio.gui.widgets.label_thresholds import LabelThresholds

NO_LABEL = "(no label)"
MAX_SHOWN = 300          # per gallery: the most confident mistakes first
MATRIX_MIN_PX = 34
LABEL_CONFUSION = MatrixTitles("Found (diagonal) · wrongly given (off it) — click a cell",
                               "true label", "predicted label")


def multilabel_line(m: MultilabelMetrics, source: str | None, noun: str) -> str:
    """"micro-F1 0.812 · macro-F1 0.774 · mAP 0.861 · exact sets 52.0% · Hamming loss 0.081 — out-of-fold,
    300 texts" for the thresholds set now."""
    where = source_name(source)
    return (f"micro-F1 {m.micro_f1:.3f} · macro-F1 {m.macro_f1:.3f} · mAP {m.mean_ap:.3f} · "
            f"exact label sets {m.subset_accuracy:.1%} · Hamming loss {m.hamming_loss:.3f}"
            f" — {where + ', ' if where else ''}{m.samples} {noun}")


def label_confusion(targets: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """L×L: row = a true label, column = a predicted one. Off the diagonal, how often label j was
    predicted on samples that carry i but not j; on it, how often label i was found."""
    matrix = cooccurrence(targets, predicted & ~targets)
    np.fill_diagonal(matrix, (predicted & targets).sum(axis=0))
    return matrix


class MultiLabelResults:
    """The multi-label pages of the Results tab: ``upper`` above the tabs, ``first_tab`` and
    ``second_tab`` as the tabs' first two pages (false positives, missed)."""

    def __init__(self, panel) -> None:
        from tlstudio.gui.views import result_samples

        self.panel = panel
        self.data: LabelArrays | None = None
        self.result: dict | None = None
        self._matrix_task = None
        self._cell_row: int | None = None        # a matrix click's true label: the false positives among its samples
        self.summary_label = QLabel(objectName="multilabelSummary", wordWrap=True)
        self.thresholds = LabelThresholds()
        self.thresholds.thresholdsChanged.connect(self._show_line)
        self.thresholds.thresholdsSettled.connect(self._show_settled)
        self.thresholds.labelSelected.connect(lambda _row: self._show_label(keep_cell=False))
        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.summary_label)
        col.addWidget(self.thresholds, 1)
        self.matrix = ConfusionMatrixChart()
        self.matrix.setObjectName("labelConfusionChart")
        self.matrix.cellClicked.connect(self._on_cell)
        scroll = QScrollArea(objectName="labelConfusionScroll", widgetResizable=True)
        scroll.setWidget(self.matrix)
        self.upper = QSplitter(Qt.Orientation.Horizontal)
        self.upper.addWidget(left)
        self.upper.addWidget(scroll)
        self.upper.setStretchFactor(0, 3)
        self.upper.setStretchFactor(1, 2)
        # The mistakes of the selected label, drawn by each modality's own sample view.
        self.samples = result_samples(panel)
        self.first_tab, self.second_tab = QStackedWidget(), QStackedWidget()
        for view in self.samples.values():
            self.first_tab.addWidget(view.misclassified)
            self.second_tab.addWidget(view.cell)

    # -- the panel's calls -----------------------------------------------------------------
    def show_summary(self, result: dict) -> None:
        self.result = result
        # Made by the worker that evaluated the run (50 000×50 lists took ~180 ms to convert here).
        self.data = result.get("arrays") or label_arrays(result)
        d = self.data
        self.panel.show_status(result)
        self.thresholds.set_data(d.labels, d.probs, d.targets, d.thresholds, MultilabelMetrics.from_dict(result))
        self._show_line()
        self.panel.show_task_pages()        # the modality's pages (Try, the panel's own galleries)
        self.show_task_pages()

    def show_views(self, result: dict) -> None:
        self.panel.embedding_map.set_predictions(None)        # its rings mark single-label mistakes
        self._show_settled()

    def clear(self) -> None:
        self.result = self.data = self._matrix_task = None
        self.summary_label.setText("")
        self.thresholds.clear()
        self.matrix.clear()
        self.matrix.setMinimumSize(0, 0)
        for view in self.samples.values():
            view.clear()

    def is_running(self) -> bool:
        return (any(view.is_running() for view in self.samples.values())
                or (self._matrix_task is not None and self._matrix_task.is_running()))

    def stop_and_wait(self, timeout_ms: int) -> bool:
        ok = self._matrix_task is None or self._matrix_task.wait(timeout_ms)
        return all([view.stop_and_wait(timeout_ms) for view in self.samples.values()]) and ok

    # -- showing ----------------------------------------------------------------------------------
    def _noun(self) -> str:
        return modality_for(self.panel.run_modality()).noun

    def show_task_pages(self) -> None:
        view = self.samples[self.panel.run_modality()]
        self.first_tab.setCurrentWidget(view.misclassified)
        self.second_tab.setCurrentWidget(view.cell)

    def _show_line(self) -> None:
        m = self.thresholds.metrics
        if m is not None and self.result is not None:
            self.summary_label.setText(f"<b>{multilabel_line(m, self.result.get('source'), self._noun())}</b>")

    def _predicted(self) -> np.ndarray:
        return predicted_matrix(self.data.probs, self.thresholds.thresholds)

    def _show_settled(self) -> None:
        """What follows the thresholds once they rest: the matrix and the selected label's galleries."""
        if self.data is None:
            return
        # The counts are an N×L by L×N product: a worker's job on a large run (the image is drawn in one too).
        task = run_task(label_confusion, self.data.targets, self._predicted())
        self._matrix_task, labels = task, self.data.labels
        task.finished.connect(lambda matrix: task is self._matrix_task and self.matrix.set_matrix(
            matrix, labels, LABEL_CONFUSION))
        label_px = max(self.matrix.fontMetrics().horizontalAdvance(name) for name in self.data.labels)
        side = len(self.data.labels) * MATRIX_MIN_PX
        self.matrix.setMinimumSize(side + label_px + 90, side + label_px + 70)
        self._show_label(keep_cell=True)

    def _on_cell(self, true_row: int, predicted_column: int) -> None:
        """A matrix cell: its column's label is selected; off the diagonal its false positives are
        narrowed to the samples of the row's label."""
        self.thresholds.select(predicted_column)
        self._cell_row = true_row if true_row != predicted_column else None
        self._show_label(keep_cell=True)
        self.panel.tabs.setCurrentIndex(0)

    def _show_label(self, keep_cell: bool) -> None:
        """The selected label's false positives and misses, most confident mistakes first."""
        j = self.thresholds.selected
        if self.data is None or j < 0:
            return
        if not keep_cell:
            self._cell_row = None
        d = self.data
        label = d.labels[j]
        predicted = self._predicted()
        wrong_given = predicted[:, j] & ~d.targets[:, j]
        if self._cell_row is not None:
            wrong_given &= d.targets[:, self._cell_row]
        missed = ~predicted[:, j] & d.targets[:, j]
        fp = [int(i) for i in np.flatnonzero(wrong_given)[np.argsort(-d.probs[wrong_given, j], kind="stable")]]
        fn = [int(i) for i in np.flatnonzero(missed)[np.argsort(d.probs[missed, j], kind="stable")]]
        entries = [self._entries(rows, j, predicted) for rows in (fp[:MAX_SHOWN], fn[:MAX_SHOWN])]
        self.samples[self.panel.run_modality()].show_label_mistakes(label, *entries)
        among = f" among '{d.labels[self._cell_row]}'" if self._cell_row is not None else ""
        self.panel.tabs.setTabText(0, f"Wrongly given '{label}'{among} ({_count(fp)})")
        self.panel.tabs.setTabText(1, f"Missed '{label}' ({_count(fn)})")

    def _entries(self, rows: list[int], j: int, predicted: np.ndarray) -> list[dict]:
        d = self.data
        out = []
        for i in rows:
            entry = dict(d.samples[i])
            entry["true"] = "; ".join(name for name, on in zip(d.labels, d.targets[i]) if on) or NO_LABEL
            entry["predicted"] = "; ".join(name for name, on in zip(d.labels, predicted[i]) if on) or NO_LABEL
            entry["confidence"] = float(d.probs[i, j])
            out.append(entry)
        return out


def _count(rows: list) -> str:
    return f"{MAX_SHOWN} of {len(rows)}" if len(rows) > MAX_SHOWN else str(len(rows))

"""The Results tab's Export page: bundle, TorchScript or ONNX (FP32, FP16 or INT8), written in a worker.

TorchScript and ONNX files are checked against PyTorch by the core export
functions; the page reports the largest output difference they measured, and
shows the export's verification report (agreement, accuracy delta, size,
latency, throughput of each exported file) as a table, with where the report
and the model card were written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from tlstudio.core.data.modality import modality_for
from tlstudio.gui.jobs.results_jobs import export_job
from tlstudio.gui.jobs.tasks import Task, run_task

KIND_NAMES = {"bundle": "Bundle", "torchscript": "TorchScript", "onnx": "ONNX"}
EXPORT_KINDS = (("bundle", "Export bundle…"), ("torchscript", "Export TorchScript…"), ("onnx", "Export ONNX…"))
NO_RUN_TIP = "Load or train a run first: the export writes that run's model."
PRECISIONS = (("fp32", "FP32", "The exported graph as it is."),
              ("fp16", "FP16", "Half the size; on most CPUs not faster."),
              ("int8", "INT8", "About 4x smaller and faster on CPU: image models are calibrated on training "
                               "images, text models quantized dynamically. The report says how well it agrees."))


def export_name(run_dir: str, kind: str, precision: str = "fp32") -> str:
    """The one naming rule for what an export writes: "<run>-bundle" (a folder), "<run>.pt", "<run>.onnx"
    ("<run>.int8.onnx" / "<run>.fp16.onnx" at a lower precision)."""
    name = Path(run_dir).name
    onnx = f"{name}.onnx" if precision == "fp32" else f"{name}.{precision}.onnx"
    return {"bundle": f"{name}-bundle", "torchscript": f"{name}.pt", "onnx": onnx}[kind]


def describe(noun: str) -> str:
    return ("A bundle is a folder TL Studio and the CLI reload; TorchScript and ONNX files are checked against "
            f"PyTorch on a few validation {noun}. Every export is then verified on the run's test (else validation) "
            f"{noun} — agreement, accuracy, size, speed — and gets a report and a MODEL_CARD.md.")


class ExportTab(QWidget):
    exported = Signal(dict)             # export_job output
    exportFailed = Signal(str)

    def __init__(self, context: Callable[[], tuple[str | None, list[str]]], parent=None):
        """``context()`` gives the run folder to export and sample images for the parity check."""
        super().__init__(parent)
        self._context = context
        self._available = False
        self.task: Task | None = None
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for kind, label in EXPORT_KINDS:
            button = QPushButton(label)
            button.setObjectName(f"export_{kind}")
            button.clicked.connect(lambda _c=False, k=kind: self.ask_export(k))
            self.buttons[kind] = button
            row.addWidget(button)
        row.addWidget(QLabel("ONNX precision:"))
        self.precision = QComboBox()
        self.precision.setObjectName("exportPrecision")
        for i, (value, text, tip) in enumerate(PRECISIONS):
            self.precision.addItem(text, value)
            self.precision.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        row.addWidget(self.precision)
        row.addStretch(1)
        self._noun = "images"
        self.label = QLabel(describe(self._noun))
        self.label.setObjectName("exportLabel")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_title = QLabel()
        self.report_title.setWordWrap(True)
        self.report_table = QTableWidget(0, 0)
        self.report_table.setObjectName("exportReport")
        self.report_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.report_table.verticalHeader().setVisible(False)
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.report_notes = QLabel()
        self.report_notes.setObjectName("exportReportNotes")
        self.report_notes.setWordWrap(True)
        self.report_notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.label)
        col.addWidget(self.report_title)
        col.addWidget(self.report_table)
        col.addWidget(self.report_notes)
        col.addStretch(1)
        self.show_report(None)
        self.set_available(False)

    def set_available(self, on: bool) -> None:
        self._available = on
        busy = self.task is not None and self.task.is_running()
        for button in self.buttons.values():
            button.setEnabled(on and not busy)
            button.setToolTip("" if on else NO_RUN_TIP)
        self.precision.setEnabled(on and not busy)

    def set_task(self, task: str) -> None:
        """A run is checked on its modality's samples (texts, images): the page says so."""
        noun = modality_for(task).noun
        if noun != self._noun and (self.task is None or not self.task.is_running()):
            self._noun = noun
            self.label.setStyleSheet("")
            self.label.setText(describe(noun))

    def ask_export(self, kind: str) -> None:
        run_dir, _ = self._context()
        if not run_dir:
            return
        suggested = export_name(run_dir, kind, self.precision.currentData())
        if kind == "bundle":
            target, _ = QFileDialog.getSaveFileName(self, "Export bundle as folder", suggested)
        elif kind == "torchscript":
            target, _ = QFileDialog.getSaveFileName(self, "Export TorchScript", suggested, "TorchScript (*.pt)")
        else:
            target, _ = QFileDialog.getSaveFileName(self, "Export ONNX", suggested, "ONNX (*.onnx)")
        if target:
            self.export(kind, target)

    def export(self, kind: str, target: str) -> Task | None:
        run_dir, samples = self._context()
        if not run_dir:
            return None
        precision = self.precision.currentData() if kind == "onnx" else "fp32"
        self.label.setStyleSheet("")
        what = KIND_NAMES[kind] + (f" {precision.upper()}" if precision != "fp32" else "")
        self.label.setText(f"Exporting {what} to {target}, then checking it against PyTorch…")
        self.show_report(None)
        self.task = run_task(export_job, kind, run_dir, str(target), samples, with_progress=True,
                             precision=precision)
        self.task.finished.connect(self._on_exported)
        self.task.failed.connect(self._on_failed)
        self.set_available(self._available)
        return self.task

    @Slot(object)
    def _on_exported(self, info: dict) -> None:
        self.task = None
        self.set_available(self._available)
        if info["max_abs_diff"] is None:
            text = f"Bundle written to {info['path']} (weights copied byte for byte)."
        else:
            text = (f"{KIND_NAMES[info['kind']]} file written to {info['path']}; parity with PyTorch: max difference "
                    f"{info['max_abs_diff']:.2e} on {info.get('samples') or '?'} {self._noun}.")
        self.label.setText(text)
        self.show_report(info.get("report"))
        self.exported.emit(info)

    def show_report(self, view: dict | None) -> None:
        """The verification report's table (export_job's ``report``), or nothing."""
        for widget in (self.report_title, self.report_table, self.report_notes):
            widget.setVisible(view is not None)
        if view is None:
            self.report_table.setRowCount(0)
            return
        self.report_title.setText(f"<b>Verification report</b> — {view['summary']}.")
        self.report_table.setColumnCount(len(view["headers"]))
        self.report_table.setHorizontalHeaderLabels(view["headers"])
        self.report_table.setRowCount(len(view["rows"]))
        for r, row in enumerate(view["rows"]):
            for c, cell in enumerate(row):
                item = QTableWidgetItem(cell)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.report_table.setItem(r, c, item)
        height = self.report_table.horizontalHeader().height() + 2 * self.report_table.frameWidth()
        height += sum(self.report_table.rowHeight(r) for r in range(len(view["rows"])))
        self.report_table.setFixedHeight(height)
        files = [f for f in view.get("files", []) if f]
        lines = list(view.get("notes", [])) + ([f"Report: {files[0]}"] if files else []) \
            + ([f"Model card: {files[1]}"] if len(files) > 1 else [])
        self.report_notes.setStyleSheet("color: #8a5a00;" if view.get("warnings") else "")
        self.report_notes.setText("\n".join(lines))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.task = None
        self.set_available(self._available)
        self.label.setStyleSheet("color: #a40000;")
        self.label.setText(f"Export failed: {message}")
        self.exportFailed.emit(message)

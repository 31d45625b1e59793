"""The Results tab's Export page: bundle, TorchScript or ONNX, written in a worker.

TorchScript and ONNX files are checked against PyTorch by the core export
functions; the page reports the largest output difference they measured.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from tlstudio.core.data.modality import modality_for
from tlstudio.gui.jobs.results_jobs import export_job
from tlstudio.gui.jobs.tasks import Task, run_task

KIND_NAMES = {"bundle": "Bundle", "torchscript": "TorchScript", "onnx": "ONNX"}
EXPORT_KINDS = (("bundle", "Export bundle…"), ("torchscript", "Export TorchScript…"), ("onnx", "Export ONNX…"))
NO_RUN_TIP = "Load or train a run first: the export writes that run's model."


def export_name(run_dir: str, kind: str) -> str:
    """The one naming rule for what an export writes: "<run>-bundle" (a folder), "<run>.pt", "<run>.onnx"."""
    name = Path(run_dir).name
    return {"bundle": f"{name}-bundle", "torchscript": f"{name}.pt", "onnx": f"{name}.onnx"}[kind]


def describe(noun: str) -> str:
    return ("A bundle is a folder TL Studio and the CLI reload; TorchScript and ONNX files are checked against "
            f"PyTorch on a few validation {noun}.")


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
        row.addStretch(1)
        self._noun = "images"
        self.label = QLabel(describe(self._noun))
        self.label.setObjectName("exportLabel")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.label)
        col.addStretch(1)
        self.set_available(False)

    def set_available(self, on: bool) -> None:
        self._available = on
        busy = self.task is not None and self.task.is_running()
        for button in self.buttons.values():
            button.setEnabled(on and not busy)
            button.setToolTip("" if on else NO_RUN_TIP)

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
        suggested = export_name(run_dir, kind)
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
        self.label.setStyleSheet("")
        self.label.setText(f"Exporting {KIND_NAMES[kind]} to {target}…")
        self.task = run_task(export_job, kind, run_dir, str(target), samples, with_progress=True)
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
        self.exported.emit(info)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.task = None
        self.set_available(self._available)
        self.label.setStyleSheet("color: #a40000;")
        self.label.setText(f"Export failed: {message}")
        self.exportFailed.emit(message)

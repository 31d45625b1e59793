"""A view that computes something from the open project in a worker: Compute, Cancel, progress, status.

The Results tab's "How much more data" and "Embedding map" both collect the
project's features and compute from them in a worker (``run_task``), showing a
busy bar, a Cancel button and one status line; a newer computation supersedes
an older one. Subclasses make ``compute_button``, ``cancel_button``, ``progress``
and ``status`` with ``make_controls`` and define ``job`` (a picklable function of
the project's dict and a task), ``busy_text``, ``fail_text`` and ``show_result``.
"""
from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

from tlstudio.gui.jobs.tasks import run_task


class ProjectJobView(QWidget):
    busy_text = "Computing…"
    fail_text = "Could not compute: {message}"

    def make_controls(self, compute_text: str, compute_name: str, progress_width: int, status_text: str) -> None:
        self.task = None
        self.initial_status = status_text
        self.compute_button = QPushButton(compute_text)
        self.compute_button.setObjectName(compute_name)
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(progress_width)
        self.progress.hide()
        self.status = QLabel(status_text)

    @staticmethod
    def job(project_dict: dict, job=None):
        raise NotImplementedError("a ProjectJobView names its job")

    def show_result(self, result) -> None:
        raise NotImplementedError("a ProjectJobView shows its result")

    def is_running(self) -> bool:
        return self.task is not None and self.task.is_running()

    @Slot()
    def compute(self) -> None:
        """Run ``job`` on a snapshot of the project in a worker."""
        if not self.state.project.data.path:
            self.status.setText("Choose a dataset first (Data tab).")
            return
        if self.task is not None:
            self.task.cancel()
        self.status.setText(self.busy_text)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.compute_button.setEnabled(False)
        task = run_task(type(self).job, self.state.project.to_dict(), with_progress=True)
        task.progress.connect(self._on_progress)
        task.finished.connect(lambda result: self._on_finished(task, result))
        task.failed.connect(lambda message: self._on_failed(task, message))
        self.task = task

    @Slot()
    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _end(self, task) -> bool:
        if task is not self.task:
            return False                  # superseded by a newer computation
        self.task = None
        self.progress.hide()
        self.cancel_button.hide()
        self.compute_button.setEnabled(True)
        return True

    def _on_finished(self, task, result) -> None:
        if self._end(task):
            self.show_result(result)

    def _on_failed(self, task, message: str) -> None:
        if self._end(task):
            self.status.setText(self.fail_text.format(message=message))
            self.failed.emit(message)

    def clear_result(self) -> None:
        """Forget the shown result (subclasses drop what they drew)."""

    def reset_for_new_project(self) -> None:
        """Another project: the running computation is dropped and the view is as new."""
        if self.task is not None:
            self.task.cancel()
            self._end(self.task)
        self.status.setText(self.initial_status)
        self.clear_result()

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        if self.task is None:
            return True
        self.task.cancel()
        return self.task.wait(timeout_ms)

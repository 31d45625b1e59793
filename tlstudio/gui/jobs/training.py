"""The training worker: runs the core ``Trainer`` off the GUI thread.

``TrainingWorker`` is one ``QObject`` moved to its own ``QThread`` (started
-> work, finished -> quit, deleteLater on both). It forwards every core event
unchanged as ONE signal, ``event``, queued to the GUI thread, where the
training panel dispatches it by type with ``events.dispatch`` (as the CLI
does). Batch and feature-extraction events are already throttled by the
trainer (``core.progress.Throttle``); nothing here throttles them again.
Shorter jobs (evaluate, predict, export, thumbnails) use ``tasks.run_task``.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from tlstudio.core.progress import JobState
from tlstudio.gui.jobs.tasks import report_failure


def default_run_dir(project) -> Path:
    """A fresh folder under the data folder's runs/, named after the project and the time."""
    from tlstudio.core import paths
    from tlstudio.core.runs.naming import new_run_dir   # torch-free: Start may come before the preload

    return new_run_dir(project.name, paths.data_dir() / "runs")


class TrainingWorker(QObject):
    """Runs ``Trainer(project, run_dir, callback, job, dataset=dataset).run()`` in a worker thread."""

    event = Signal(object)               # every core training event (events.Event), in order
    finished = Signal(dict)              # the metrics dict ({} when the trainer could not start)

    def __init__(self, project, run_dir, dataset=None, parent=None):
        super().__init__(parent)
        self.project = project            # a snapshot: the GUI may keep editing its own copy
        self.run_dir = Path(run_dir)
        # The Data tab's scanned DatasetIndex: the trainer then does not scan (decode) it again.
        self.dataset = dataset
        # Torch-free, so it exists before the thread starts: cancel/pause act on it directly.
        self.job = JobState()
        self._saw_end_event = False

    # Called from the GUI thread; the JobState is thread-safe.
    def cancel(self) -> None:
        self.job.cancel()

    def pause(self) -> None:
        self.job.pause()

    def resume(self) -> None:
        self.job.resume()

    def _on_event(self, event) -> None:
        from tlstudio.core import events as ev

        if isinstance(event, (ev.RunFinished, ev.RunFailed)):
            self._saw_end_event = True
        self.event.emit(event)

    @Slot()
    def work(self) -> None:
        metrics: dict = {}
        try:
            from tlstudio.core.train.trainer import Trainer

            trainer = Trainer(self.project, self.run_dir, callback=self._on_event, job=self.job,
                              dataset=self.dataset)
            metrics = trainer.run() or {}
        except BaseException as exc:  # the app must survive anything the trainer throws
            message = report_failure(exc, "Training")
            if not self._saw_end_event:
                from tlstudio.core import events as ev

                self.event.emit(ev.RunFailed(message=message))
        finally:
            # Hand this object back to the GUI thread before it is deleted: PySide
            # destroying a Python-made QObject on a worker thread needs the GIL
            # while Qt holds a connection lock, which can deadlock with the GUI
            # thread connecting signals (seen with gdb).
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.finished.emit(dict(metrics))


def start_on_thread(worker: QObject) -> QThread:
    """Move ``worker`` to a new thread and start it: started -> work, finished -> quit, deleteLater on both.

    The caller keeps references to both until the thread's ``finished``.
    """
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.work)
    # Direct: QThread.quit is thread-safe, and a queued call would never run
    # while the GUI thread is blocked waiting for this thread (stop_and_wait).
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.finished.connect(worker.deleteLater)      # queued: work() hands the worker back to the GUI thread
    thread.finished.connect(thread.deleteLater)
    thread.start()
    return thread

"""Workers that run core jobs off the GUI thread.

Each job is one ``QObject`` moved to its own ``QThread`` (started -> work,
finished -> quit, deleteLater on both). Signals cross back to the GUI thread
queued, so slots in panels always run on the GUI thread.

``TrainingWorker`` runs the core ``Trainer`` and forwards its events as
signals, coalescing the per-batch ones so the GUI gets at most ~10 updates a
second. Shorter jobs (evaluate, predict, export, thumbnails) use
``tasks.run_task``.
"""
from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from tlstudio.gui.jobs.tasks import ThrottledCallback, error_message

# Training progress reaches the GUI at most this often.
PROGRESS_INTERVAL_S = 0.1


def default_run_dir(project) -> Path:
    """A fresh folder under the data folder's runs/, named after the project and the time."""
    from tlstudio.core import paths
    from tlstudio.core.runs.folder import new_run_dir

    return new_run_dir(project.name, paths.data_dir() / "runs")


class TrainingWorker(QObject):
    """Runs ``Trainer(project, run_dir, callback, token).run()`` in a worker thread."""

    stageStarted = Signal(object)        # events.StageStarted
    featureProgress = Signal(object)     # events.FeatureExtractionProgress (throttled)
    batchProgress = Signal(object)       # events.BatchProgress (throttled)
    epochEnded = Signal(object)          # events.EpochEnded
    checkpointSaved = Signal(object)     # events.CheckpointSaved
    runFinished = Signal(object)         # events.RunFinished
    runFailed = Signal(str)              # a readable sentence
    finished = Signal(dict)              # the metrics dict ({} when the trainer could not start)

    def __init__(self, project, run_dir, parent=None):
        super().__init__(parent)
        self.project = project            # a snapshot: the GUI may keep editing its own copy
        self.run_dir = Path(run_dir)
        # The CancelToken is made in work(): importing the trainer (torch, timm)
        # takes seconds and must not happen on the GUI thread. Requests made
        # before it exists are remembered and applied when it does.
        self.token = None
        self._cancel_requested = False
        self._pause_requested = False
        self._batch_gate = ThrottledCallback(PROGRESS_INTERVAL_S)
        self._feature_gate = ThrottledCallback(PROGRESS_INTERVAL_S)
        self._saw_end_event = False

    # Called from the GUI thread; the token is thread-safe.
    def cancel(self) -> None:
        self._cancel_requested = True
        token = self.token
        if token is not None:
            token.cancel()
            token.resume()                # a paused trainer must wake up to see the cancel

    def pause(self) -> None:
        self._pause_requested = True
        if self.token is not None:
            self.token.pause()

    def resume(self) -> None:
        self._pause_requested = False
        if self.token is not None:
            self.token.resume()

    def _on_event(self, event) -> None:
        from tlstudio.core.train import events as ev

        if isinstance(event, ev.BatchProgress):
            if self._batch_gate.should_emit(event.batch >= event.batches):
                self.batchProgress.emit(event)
        elif isinstance(event, ev.FeatureExtractionProgress):
            if self._feature_gate.should_emit(event.done >= event.total):
                self.featureProgress.emit(event)
        elif isinstance(event, ev.EpochEnded):
            self.epochEnded.emit(event)
        elif isinstance(event, ev.StageStarted):
            self.stageStarted.emit(event)
        elif isinstance(event, ev.CheckpointSaved):
            self.checkpointSaved.emit(event)
        elif isinstance(event, ev.RunFinished):
            self._saw_end_event = True
            self.runFinished.emit(event)
        elif isinstance(event, ev.RunFailed):
            self._saw_end_event = True
            self.runFailed.emit(event.message)

    @Slot()
    def work(self) -> None:
        metrics: dict = {}
        try:
            from tlstudio.core.train.trainer import CancelToken, Trainer

            token = CancelToken()
            self.token = token
            # Set-then-check on both sides: a cancel from the GUI is never lost.
            if self._pause_requested:
                token.pause()
            if self._cancel_requested:
                token.cancel()
                token.resume()
            trainer = Trainer(self.project, self.run_dir, callback=self._on_event, token=token)
            metrics = trainer.run() or {}
        except BaseException as exc:  # the app must survive anything the trainer throws
            traceback.print_exc()
            if not self._saw_end_event:
                self.runFailed.emit(error_message(exc))
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

"""Run a plain Python callable off the GUI thread.

``run_task(fn, *args, **kwargs)`` starts ``fn`` in a worker: one ``QObject``
moved to its own ``QThread`` (started -> work, finished -> quit, deleteLater
on both). It returns a ``Task`` that lives on the GUI thread and re-emits
``progress(done, total)``, ``finished(result)`` and ``failed(message)`` there,
so any slot or lambda connected to it runs on the GUI thread.

With ``with_progress=True`` the callable also receives ``progress=`` (a
``(done, total)`` callback, throttled before it reaches the GUI) and
``cancel=`` (an object with ``is_cancelled``), the protocol core long jobs
accept. ``failed`` carries the ``TLStudioError`` message as is; anything
else is named by its type, never a traceback.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from tlstudio.core.throttle import ProgressClock

log = logging.getLogger(__name__)

# Progress reaches the GUI at most this often (the last update always does).
PROGRESS_INTERVAL_S = 0.05

# Tasks still running; a task must not be garbage collected while its thread runs.
_RUNNING: set["Task"] = set()


def error_message(exc: BaseException) -> str:
    """One sentence for the user."""
    from tlstudio.core.errors import TLStudioError

    if isinstance(exc, TLStudioError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "Out of memory: try a smaller model, batch size or image size."
    text = str(exc).strip() or type(exc).__name__
    return f"Unexpected error ({type(exc).__name__}): {text}"


class ThrottledCallback(ProgressClock):
    """Lets through at most one progress update per interval, plus every one that ends a pass."""

    def __init__(self, interval_s: float = PROGRESS_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        super().__init__(interval_s, clock)

    def should_emit(self, is_last: bool) -> bool:
        return self.due(final=is_last)


class CancelFlag:
    """The ``is_cancelled`` protocol core jobs poll between items."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def is_cancelled(self) -> bool:
        return self._event.is_set()


class _Worker(QObject):
    """Runs the callable; the only object that lives on the worker thread."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict,
                 with_progress: bool, cancel: CancelFlag) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._with_progress = with_progress
        self._cancel = cancel
        self._gate = ThrottledCallback()

    def _report(self, done: int, total: int) -> None:
        if self._gate.should_emit(done >= total):
            self.progress.emit(int(done), int(total))

    @Slot()
    def work(self) -> None:
        kwargs = dict(self._kwargs)
        if self._with_progress:
            kwargs.update(progress=self._report, cancel=self._cancel)
        try:
            result = self._fn(*self._args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
            log.debug("task failed:\n%s", traceback.format_exc())
            self.failed.emit(error_message(exc))
        else:
            self.finished.emit(result)
        finally:
            # Hand this object back to the GUI thread before its thread ends, so
            # deleteLater destroys it there: PySide6 can deadlock when a Python-made
            # QObject is destroyed on its worker thread (seen with gdb).
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            QThread.currentThread().quit()


class Task(QObject):
    """GUI-thread handle of one background job."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    done = Signal()                     # after finished or failed, success or not

    def __init__(self, fn: Callable[..., Any], *args: Any, with_progress: bool = False,
                 parent: QObject | None = None, **kwargs: Any) -> None:
        super().__init__(parent)
        self.cancel_flag = CancelFlag()
        self.result: Any = None
        self.error: str | None = None
        self._running = False
        self._thread = QThread()
        self._worker = _Worker(fn, args, kwargs, with_progress, self.cancel_flag)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.work)
        # The worker's signals reach these slots queued (this object lives on the GUI thread).
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.finished.connect(self._thread.deleteLater)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> "Task":
        _RUNNING.add(self)
        self._running = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; only jobs that poll ``cancel`` notice."""
        self.cancel_flag.cancel()

    def is_running(self) -> bool:
        return self._running

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the thread ends (used on close); True when it did."""
        if not self._running:
            return True
        return self._thread.wait(timeout_ms)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self.result = result
        self.finished.emit(result)
        self.done.emit()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.failed.emit(message)
        self.done.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        self._running = False
        _RUNNING.discard(self)


def run_task(fn: Callable[..., Any], *args: Any, with_progress: bool = False,
             on_finished: Callable[[Any], None] | None = None,
             on_failed: Callable[[str], None] | None = None,
             on_progress: Callable[[int, int], None] | None = None,
             parent: QObject | None = None, **kwargs: Any) -> Task:
    """Start ``fn(*args, **kwargs)`` in a worker thread and return its ``Task``."""
    task = Task(fn, *args, with_progress=with_progress, parent=parent, **kwargs)
    if on_finished is not None:
        task.finished.connect(on_finished)
    if on_failed is not None:
        task.failed.connect(on_failed)
    if on_progress is not None:
        task.progress.connect(on_progress)
    return task.start()


def running_tasks() -> list[Task]:
    return list(_RUNNING)


def wait_for_all(timeout_ms: int = 30000) -> bool:
    """Cancel and join every running task (window close, test teardown)."""
    ok = True
    for task in list(_RUNNING):
        task.cancel()
        ok = task.wait(timeout_ms) and ok
    return ok

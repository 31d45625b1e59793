"""Run a plain Python callable off the GUI thread.

``run_task(fn, *args, **kwargs)`` starts ``fn`` in a worker: one ``QObject``
moved to its own ``QThread`` (started -> work, finished -> quit, deleteLater
on both). It returns a ``Task`` that lives on the GUI thread and re-emits
``progress(done, total)``, ``finished(result)`` and ``failed(message)`` there,
so any slot or lambda connected to it runs on the GUI thread.

Every Task owns a ``core.progress.JobState`` from the start (``Task.state``);
``Task.cancel()`` cancels it. With ``with_progress=True`` the callable also
receives it as ``job=``, the one parameter every long core function takes for
cancel and progress: ``check(job)`` between items, ``set_progress(job, done,
total)`` (throttled there before it reaches the GUI).

``failed`` carries the ``TLStudioError`` message as is. Anything else is a
bug: it is logged at ERROR with its traceback (to the log file the app sets
up with ``install_error_log``) and named by its type plus the log's path.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from tlstudio.core.progress import JobState

log = logging.getLogger(__name__)

# Progress reaches the GUI at most this often (the last update always does).
PROGRESS_INTERVAL_S = 0.05

# The file unexpected errors are written to (set by install_error_log at start-up).
_error_log: Path | None = None

# Tasks still running; a task must not be garbage collected while its thread runs.
_RUNNING: set["Task"] = set()


def install_error_log(path: str | Path) -> Path:
    """Send ERROR records of the ``tlstudio`` loggers, tracebacks included, to ``path`` (appended)."""
    global _error_log
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    uninstall_error_log()
    logger = logging.getLogger("tlstudio")
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.tlstudio_error_log = True
    handler.setLevel(logging.ERROR)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.ERROR:
        logger.setLevel(logging.ERROR)
    _error_log = path
    return path


def uninstall_error_log() -> None:
    """Stop writing to the error log (tests; the app keeps it for its whole life)."""
    global _error_log
    logger = logging.getLogger("tlstudio")
    for handler in list(logger.handlers):
        if getattr(handler, "tlstudio_error_log", False):
            logger.removeHandler(handler)
            handler.close()
    _error_log = None


def error_log_path() -> Path | None:
    return _error_log


def error_message(exc: BaseException) -> str:
    """One sentence for the user."""
    from tlstudio.core.errors import TLStudioError

    if isinstance(exc, TLStudioError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "Out of memory: try a smaller model, batch size or image size."
    # The exception's own text can hold file paths and library internals: it goes to the log only.
    where = f" Details are in the log: {_error_log}" if _error_log is not None else ""
    return f"Unexpected error ({type(exc).__name__}): this step could not finish.{where}"


def report_failure(exc: BaseException, what: str = "A background task") -> str:
    """Log an unexpected exception at ERROR with its traceback; the user's sentence either way.

    Call it from inside the ``except`` block that caught ``exc``.
    """
    from tlstudio.core.errors import TLStudioError

    if not isinstance(exc, TLStudioError):
        log.error("%s failed", what, exc_info=exc)
    return error_message(exc)


class _Worker(QObject):
    """Runs the callable; the only object that lives on the worker thread."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict,
                 with_progress: bool, state: JobState) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._with_progress = with_progress
        self._state = state
        state.on_progress = self.progress.emit     # throttled by the state; queued to the GUI thread

    @Slot()
    def work(self) -> None:
        kwargs = dict(self._kwargs)
        if self._with_progress:
            kwargs["job"] = self._state
        try:
            result = self._fn(*self._args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
            name = getattr(self._fn, "__qualname__", repr(self._fn))
            self.failed.emit(report_failure(exc, f"Background task {name}"))
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
        self.state = JobState(interval=PROGRESS_INTERVAL_S)
        self.result: Any = None
        self.error: str | None = None
        self._running = False
        self._thread = QThread()
        self._worker = _Worker(fn, args, kwargs, with_progress, self.state)
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
        """Ask the job to stop; only jobs that take ``job=`` notice (``check(job)`` raises)."""
        self.state.cancel()

    def was_cancelled(self) -> bool:
        return self.state.is_cancelled

    def is_running(self) -> bool:
        return self._running

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the thread ends (used on close); True when it did."""
        if not self._running:
            return True
        try:
            return self._thread.wait(timeout_ms)
        except RuntimeError:     # the thread already ended and was deleted (its owner went first)
            return True

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
        # Callers connect lambdas that capture the task (task -> connection -> lambda -> task).
        # Such a cycle is freed only by the garbage collector, which may run on any worker
        # thread, and PySide can crash destroying a QObject there. Everything has been
        # delivered by now: drop the connections so the task is freed here, by refcount.
        for signal in (self.progress, self.finished, self.failed, self.done):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass


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

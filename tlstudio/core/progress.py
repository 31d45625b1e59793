"""One cancel / pause / progress protocol for every long job.

A ``JobState`` is made by whoever starts a job (the GUI's task runner, the
training worker, the CLI) and handed to the job as ``job=``: every long core
function takes ``job: JobState | None = None`` (keyword), the Trainer
included, and nothing else for cancel or progress (``tests/test_job_dialect.py``
keeps it so; "task" means the modality, "kind" the single-/multi-label task
type). The job calls ``check(job)`` between items -- it returns, blocks
while paused, or raises ``Cancelled`` -- and reports ``set_progress(job,
done, total)``, which reaches the optional callback at most once per
interval (the report that ends a pass always does). Both helpers accept
None (no one listens); ``job.check()`` / ``job.set_progress()`` are the
same for a job known to exist.

``Throttle`` is that rate limit on its own, for event streams (the trainer's
batch events, feature extraction, the CLI's redraws, the GUI's training
signal). Torch-free and Qt-free, so the GUI can create a JobState up front.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

from tlstudio.core.errors import TLStudioError

# Progress reaches its listener at most this often (seconds), unless told otherwise.
DEFAULT_INTERVAL_S = 0.1

ProgressCallback = Callable[[int, int], None]


class Cancelled(TLStudioError):
    """Raised by ``JobState.check()`` once the job was asked to stop."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class Throttle:
    """Lets reports through at most once per ``interval`` seconds; a final one always passes."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = -math.inf
        self._lock = threading.Lock()

    def due(self, final: bool = False) -> bool:
        with self._lock:
            now = self.clock()
            if final or now - self.last >= self.interval:
                self.last = now
                return True
            return False


class JobState:
    """Cancel, pause and progress of one job; every method is safe from any thread."""

    def __init__(self, on_progress: ProgressCallback | None = None, *,
                 interval: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.on_progress = on_progress
        self.throttle = Throttle(interval, clock)
        self.phase = ""             # what the job is doing now, in words ("finding duplicates"); set by the job
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    # -- requests (any thread) ---------------------------------------------------
    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()           # a paused job wakes up to see the cancel

    def pause(self) -> None:
        if not self._cancelled.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def is_paused(self) -> bool:
        return not self._running.is_set() and not self._cancelled.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True when running again (or cancelled), False on timeout."""
        return self._running.wait(timeout)

    # -- the job's side ------------------------------------------------------------
    def check(self) -> None:
        """Return when the job may go on; block while paused; raise ``Cancelled`` when asked to stop."""
        if self._cancelled.is_set():
            raise Cancelled()
        while not self._running.wait(0.2):
            pass
        if self._cancelled.is_set():
            raise Cancelled()

    def set_progress(self, done: int, total: int) -> bool:
        """Report ``done`` of ``total``; True when the report reached the callback."""
        if self.on_progress is None or not self.throttle.due(final=done >= total):
            return False
        self.on_progress(int(done), int(total))
        return True


def check(job: JobState | None) -> None:
    """``job.check()`` for an optional job."""
    if job is not None:
        job.check()


def set_progress(job: JobState | None, done: int, total: int) -> None:
    """``job.set_progress(...)`` for an optional job."""
    if job is not None:
        job.set_progress(done, total)

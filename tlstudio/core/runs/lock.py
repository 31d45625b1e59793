"""One writer per run folder: an OS lock on a small file inside it.

``RunLock(run_dir).acquire()`` takes an exclusive, non-blocking lock on
``run_dir/.tlstudio.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows). A second training into the same folder fails at once with a clear
``RunFolderError``. The OS drops the lock when its process ends, however it
ends (kill -9 included), so a stale lock file never blocks a later run.
The lock file itself stays; it holds the owner's pid for the message only.
"""
from __future__ import annotations

import os
from pathlib import Path

from tlstudio.core.errors import RunFolderError

LOCK_NAME = ".tlstudio.lock"

try:
    import fcntl
except ImportError:     # Windows
    fcntl = None
    import msvcrt


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


class RunLock:
    """An exclusive lock on one run folder, held until ``release()`` or process exit."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            os.close(fd)
            owner = _read_owner(self.path)
            who = f" (process {owner})" if owner else ""
            raise RunFolderError(f"Another training{who} is writing to {self.run_dir}; wait for it to end "
                                 "or choose another run folder.")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(run_dir: str | os.PathLike) -> bool:
    """True while some process holds the run folder's lock (a run is writing to it now)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if not _try_lock(fd):
            return True
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _read_owner(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""

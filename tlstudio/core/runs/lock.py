"""One writer per run folder: an OS lock on a small file inside it.

``RunLock(run_dir).acquire()`` takes an exclusive, non-blocking lock on
``run_dir/.tlstudio.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows). A second training into the same folder fails at once with a clear
``RunFolderError``. The OS drops the lock when its process ends, however it
ends (kill -9 included), so a stale lock file never blocks a later run.
The lock file itself stays; it holds the owner's pid. Processes forked by
the owner (DataLoader workers) share its lock and may outlive a killed owner
for a few seconds: a lock whose owner is dead is stale, and is broken by
replacing the lock file (the orphans keep the old file's lock, nobody waits).
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
            fd = self._replace_stale() if owner and not _alive(int(owner)) else None
            if fd is None or not _try_lock(fd):
                if fd is not None:
                    os.close(fd)
                who = f" (process {owner})" if owner else ""
                raise RunFolderError(f"Another training{who} is writing to {self.run_dir}; wait for it to end "
                                     "or choose another run folder.")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def _replace_stale(self) -> int | None:
        """A fresh lock file in place of one held only by a dead owner's orphans; its descriptor."""
        try:
            os.unlink(self.path)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError:
            return None      # another process replaced it first: it is that one's lock now

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
            owner = _read_owner(path)
            return not owner or _alive(int(owner))     # a dead owner's orphaned workers hold no run
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


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    if pid <= 0:
        return False
    if fcntl is None:
        return True        # Windows: os.kill would end the process; its workers are spawned, not forked
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True        # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True        # no /proc (macOS, Windows): the process exists

"""Where TL Studio keeps its files: the platform's standard folders.

Environment variables override them (tests use this to stay isolated):
``TLSTUDIO_CACHE_DIR`` for the feature cache and downloads,
``TLSTUDIO_DATA_DIR`` for user data (recent projects, imported weights).
``hf_cache_dir`` is where the Hugging Face hub keeps downloads (read, and written on a download).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

APP_NAME = "TLStudio"


def cache_dir() -> Path:
    path = Path(os.environ.get("TLSTUDIO_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    path = Path(os.environ.get("TLSTUDIO_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    """The app's log (unexpected errors with their tracebacks), in the data folder."""
    return data_dir() / "logs" / "tlstudio.log"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment each call."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home) / "hub"


def resources_dir() -> Path:
    """The repository's (or the installed bundle's) resources folder."""
    env = os.environ.get("TLSTUDIO_RESOURCES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    return here.parent / "resources"


def demo_data_dir() -> Path:
    return resources_dir() / "demo_data"


def open_regular_file(path: str | os.PathLike):
    """Open ``path`` for binary reading only if it is a regular file.

    Opening a FIFO (named pipe) blocks until something writes to it, and a device
    file can be endless, so a plain ``open`` of a path the user gave can hang the
    app. The file is opened non-blocking and checked on its own descriptor (no
    race with a path swapped in between). Raises OSError (ENOENT, EISDIR, ...) or
    NotARegularFile.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class NotARegularFile(OSError):
    """A path that names a pipe, device, socket or folder where a file was expected."""

"""Where TL Studio keeps its files: the platform's standard folders.

Environment variables override them (tests use this to stay isolated):
``TLSTUDIO_CACHE_DIR`` for the feature cache and downloads,
``TLSTUDIO_DATA_DIR`` for user data (recent projects, imported weights).
"""
from __future__ import annotations

import os
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

"""Icons drawn for TL Studio (resources/icons/*.svg) and the application icon."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

from tlstudio.core import paths


def icons_dir() -> Path:
    return paths.resources_dir() / "icons"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """The named SVG icon; an empty icon when the file is missing (never an error)."""
    path = icons_dir() / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    result = QIcon()
    for name in ("app.png", "app.svg"):
        path = icons_dir() / name
        if path.is_file():
            result.addFile(str(path))
    return result

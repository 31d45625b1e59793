"""The start-up splash while PyTorch loads, before the main window exists.

Importing torch, torchvision and timm takes seconds, and parts of it (loading
libtorch, registering operators) hold Python's GIL for 100-400 ms at a time:
done in a worker thread after the window shows, the window froze for that long
whenever it needed Python (measured 80-190 ms stalls when Start was pressed in
the first seconds). Done here, on the main thread before the window exists,
the window never waits for them; the splash says what is loading meanwhile.
"""
from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

from tlstudio.gui.icons import app_icon

log = logging.getLogger(__name__)

# In import order; what the trainer, the model tree and the charts' workers need first.
HEAVY_MODULES = (("torch", "PyTorch"), ("torchvision", "torchvision"), ("timm", "the model zoo (timm)"))
# Loaded as well when the project opening is a text project: its model load and its token-length count
# both need transformers, in two workers (core/heavy_imports.py keeps them from importing it at once).
TEXT_MODULES = (("transformers", "the text models (transformers)"),)
SPLASH_SIZE = (440, 180)


def _import(module: str) -> None:
    if module == "transformers":
        from tlstudio.core.heavy_imports import preload_transformers

        preload_transformers()       # the import and the lazy names the engine uses, under the core's lock
    else:
        importlib.import_module(module)


def preload_libraries(report: Callable[[str], None] | None = None, text: bool = False) -> list[str]:
    """Import the heavy libraries not imported yet (with ``text``, transformers too), telling
    ``report`` each one's name first. Returns the modules it imported. A library that fails to
    import is logged and skipped: the window still opens, and the first job that needs it reports
    the error as before."""
    loaded = []
    for module, label in HEAVY_MODULES + (TEXT_MODULES if text else ()):
        if module in sys.modules and module != "transformers":
            continue
        if report is not None and module not in sys.modules:
            report(label)
        try:
            _import(module)
        except Exception:      # noqa: BLE001 - start-up must go on; the job that needs it says why
            log.error("Could not import %s at start-up", module, exc_info=True)
            break
        loaded.append(module)
    return loaded


def project_is_text(project_path: str | None, text_demo: bool, recent: list[str]) -> bool:
    """Whether the project the app is about to open is a text project: the text demo, a project file
    whose task is text, or (with neither) the most recent project, which the start page offers first."""
    if text_demo:
        return True
    path = project_path or (recent[0] if recent else None)
    if not path:
        return False
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")).get("task") == "text"
    except (OSError, ValueError, AttributeError):
        return False


def make_splash() -> QSplashScreen:
    """A small card: the app icon, the name, and a line for what is loading."""
    width, height = SPLASH_SIZE
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor("#fafafa"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("#c8c8c8"))
    painter.drawRect(0, 0, width - 1, height - 1)
    painter.drawPixmap(24, 34, app_icon().pixmap(96, 96))
    title = QFont()
    title.setPointSize(20)
    title.setBold(True)
    painter.setFont(title)
    painter.setPen(QColor("#202020"))
    painter.drawText(QRect(140, 44, width - 160, 40), Qt.AlignmentFlag.AlignLeft, "TL Studio")
    body = QFont()
    body.setPointSize(10)
    painter.setFont(body)
    painter.setPen(QColor("#505050"))
    painter.drawText(QRect(140, 86, width - 160, 40), Qt.AlignmentFlag.AlignLeft, "Transfer learning on your data")
    painter.end()
    return QSplashScreen(pixmap)


def show_loading(app: QApplication, text: bool = False) -> QSplashScreen:
    """Show the splash and load the heavy libraries under it (``text``: transformers too);
    ``finish(window)`` hides it."""
    splash = make_splash()
    splash.show()

    def report(label: str) -> None:
        splash.showMessage(f"Loading {label}…", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter,
                           QColor("#505050"))
        app.processEvents()

    app.processEvents()
    preload_libraries(report, text)
    return splash

"""Start TL Studio's desktop app.

``build_main_window`` is the testing seam: it makes the window (and the
QApplication, when none exists) without entering the event loop. ``main``
is the ``tlstudio`` gui-script and ``python -m tlstudio [PROJECT] [--demo]``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from tlstudio.core.errors import TLStudioError
from tlstudio.gui.demos import demo_project, text_demo_project
from tlstudio.gui.icons import app_icon
from tlstudio.gui.jobs.tasks import install_error_log, wait_for_all
from tlstudio.gui.main_window import MainWindow, recent_files
from tlstudio.gui.platform_check import startup_problem
from tlstudio.gui.splash import project_is_text, show_loading

log = logging.getLogger(__name__)


def setup_error_log() -> Path:
    """Unexpected errors (background tasks, training, uncaught exceptions in slots) go to the log file
    in the data folder at ERROR with their traceback; messages shown to the user name that file."""
    from tlstudio.core import paths

    path = install_error_log(paths.log_file())
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        log.error("Uncaught exception", exc_info=(kind, value, tb))
        previous(kind, value, tb)

    sys.excepthook = excepthook
    return path


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). PySide takes
# the GIL for every virtual call on a Python-made widget (to look for a Python override), so while a
# worker runs Python (an evaluation, a chart render, thumbnails) each of the hundreds of calls in a
# layout or paint could wait up to a whole interval: measured 40-60 ms window paints at the end of a
# run (results shown while the matrix render and thumbnails run in workers). benchmarks/
# bench_gui_stalls.py, worst beat at the end of a run: 5 ms 46-77 ms, 1 ms 24-61 ms, 0.2 ms 18-25 ms;
# the runs were no slower (torch ops release the GIL).
GUI_SWITCH_INTERVAL_S = 0.0002


def ensure_application(argv: list[str] | None = None) -> QApplication:
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    QCoreApplication.setOrganizationName("TLStudio")
    QCoreApplication.setApplicationName("TLStudio")
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setApplicationDisplayName("TL Studio")
    app.setWindowIcon(app_icon())
    return app


def build_main_window(project_path: str | Path | None = None, demo: bool = False,
                      text_demo: bool = False) -> MainWindow:
    """The main window (not shown) with a project from a file or a demo; with none, the start page."""
    ensure_application()
    window = MainWindow()
    if project_path is not None:
        if not window.open_project(project_path, ask=False):
            raise TLStudioError(f"Could not open the project {project_path}.")
    elif demo:
        window.state.replace_project(demo_project())
    elif text_demo:
        window.state.replace_project(text_demo_project())
    else:
        window.show_start_page()
    return window


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tlstudio", description="TL Studio: transfer learning on your images.")
    parser.add_argument("project", nargs="?", help="a project file (.json) to open")
    parser.add_argument("--demo", action="store_true", help="open the bundled image demo project")
    parser.add_argument("--text-demo", action="store_true", help="open the bundled text demo project")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problem = startup_problem()
    if problem is not None:    # Qt would abort with a core dump; say why and how to fix it instead
        print(problem, file=sys.stderr)
        return 2
    setup_error_log()
    app = ensure_application()
    text = project_is_text(args.project, args.text_demo and not args.demo, [] if args.demo else recent_files())
    splash = show_loading(app, text)  # torch & co. load here, so the window never waits for their imports
    try:
        window = build_main_window(args.project, demo=args.demo, text_demo=args.text_demo)
    except TLStudioError:
        window = build_main_window(demo=args.demo, text_demo=args.text_demo)   # open_project already said why
    window.show()
    splash.finish(window)
    code = app.exec()
    # A job a late signal started after the window's close (a model load queued behind the dataset
    # scan) is joined here: a QThread destroyed while running aborts the process at exit.
    wait_for_all(30000)
    return code

"""GUI test set-up: settings in a temporary ini file, no blocking dialogs, one torch thread."""
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path, monkeypatch):
    """Window geometry and recent files go to a throw-away ini file."""
    QCoreApplication.setOrganizationName("TLStudio")
    QCoreApplication.setApplicationName("TLStudio")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    yield
    from tlstudio.gui.jobs import tasks
    tasks.wait_for_all(30000)


class DialogLog:
    """Records every message box; ``answer`` is what ``question`` returns."""

    def __init__(self):
        self.calls = []
        self.answer = QMessageBox.StandardButton.Cancel

    def question(self, _parent, title, text, *args, **kwargs):
        self.calls.append(("question", title, text))
        return self.answer

    def note(self, kind):
        def show(_parent, title, text, *args, **kwargs):
            self.calls.append((kind, title, text))
            return QMessageBox.StandardButton.Ok
        return show


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """No modal dialog may block a test: message boxes are recorded, file dialogs return nothing."""
    log = DialogLog()
    monkeypatch.setattr(QMessageBox, "question", log.question)
    for kind in ("warning", "information", "critical", "about"):
        monkeypatch.setattr(QMessageBox, kind, log.note(kind))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    return log


def wait_ready(qtbot, window, timeout=60000):
    """Until the window's dataset is scanned and its model loaded."""
    qtbot.waitUntil(lambda: window.state.dataset is not None and window.state.model is not None
                    and not window.model_panel.is_loading() and not window.dataset_browser.is_scanning(),
                    timeout=timeout)


def close_window(window):
    window.state.set_dirty(False)
    window.close()


@pytest.fixture
def demo_window(qtbot):
    from tlstudio.gui.app import build_main_window

    window = build_main_window(demo=True)
    qtbot.addWidget(window)
    window.show()
    wait_ready(qtbot, window)
    yield window
    close_window(window)

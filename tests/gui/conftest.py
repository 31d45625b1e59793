"""GUI test set-up: settings in a temporary ini file, one torch thread."""
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402


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
    from tlstudio.gui import tasks
    tasks.wait_for_all(30000)

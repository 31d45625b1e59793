"""Help > About shows the installed version (it used to fail on a missing __version__)."""
from importlib import metadata

from PySide6.QtWidgets import QMessageBox

import tlstudio


def test_package_has_the_installed_version():
    assert tlstudio.__version__ == metadata.version("tlstudio")


def test_about_box_shows_the_version(qtbot, monkeypatch):
    from tlstudio.gui.main_window import MainWindow

    shown = []
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda parent, title, text: shown.append((title, text))))
    window = MainWindow()
    qtbot.addWidget(window)
    about = next(a for a in window.findChildren(type(window.menuBar().actions()[0])) if "About" in a.text())
    about.trigger()
    assert shown and f"TL Studio {tlstudio.__version__}" in shown[0][1]

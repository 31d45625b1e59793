"""Spreadsheet text tables in the GUI: a semicolon file dropped on the start page becomes a text project
that trains (Spanish labels in the Results tab); a table the detection cannot decide is asked about;
the Data tab's Encoding choice reads a Windows-1252 file."""
import os

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tlstudio.core.data.modality import modality_for
from tlstudio.gui.app import build_main_window

from tests.core.data.spreadsheet_samples import SPANISH, table_text, write_variant

from .conftest import close_window
from .train_via_start import train_via_start_button

TIMEOUT_MS = 300_000
SHOTS = os.environ.get("TLSTUDIO_SCREENSHOTS")      # a folder to keep the screenshots in (optional)


def _window(qtbot):
    window = build_main_window()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


def _drop(window, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.start_page.dropEvent(QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                           Qt.KeyboardModifier.NoModifier))


def _shot(widget, tmp_path, name):
    widget.grab().save(str(tmp_path / name))
    if SHOTS:
        widget.grab().save(os.path.join(SHOTS, name))


def test_a_semicolon_file_dropped_on_the_start_page_trains_as_text(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "data"))
    data = write_variant(tmp_path, "es_semicolon.csv")
    window = _window(qtbot)
    _drop(window, data)
    state = window.state
    qtbot.waitUntil(lambda: state.dataset is not None, timeout=60000)
    assert state.project.task == "text" and state.project.model.name == modality_for("text").default_model
    assert state.dataset.counts() == {"adiós": 10, "hola": 10}
    browser = window.dataset_browser
    report = browser.pages["text"].report_label.text()
    assert "semicolon" in report and "'Texto'" in report and "'Categoría'" in report
    assert browser.reading.encoding_choice.encoding() == ""
    _shot(window, tmp_path, "spreadsheet-data-tab.png")

    qtbot.waitUntil(lambda: state.model is not None and not window.model_panel.is_loading(), timeout=TIMEOUT_MS)
    result = train_via_start_button(qtbot, window, 5, TIMEOUT_MS)
    assert set(result["per_class"]) == set(SPANISH)
    results = window.results_panel
    window.tabs.setCurrentWidget(results)
    qtbot.wait(200)
    _shot(window, tmp_path, "spreadsheet-results.png")
    with qtbot.waitSignal(results.predicted, timeout=TIMEOUT_MS) as blocker:
        results.try_text("Adiós, nos vemos pronto")
    assert blocker.args[0][0]["label"] in SPANISH
    close_window(window)


def test_an_undecidable_table_is_asked_about_and_the_answer_scans_it(qtbot, tmp_path):
    table = tmp_path / "codes.csv"
    table.write_text("code;group\n" + "".join(f"{i};{'ab'[i % 2]}\n" for i in range(10)), encoding="utf-8")
    window = _window(qtbot)
    _drop(window, table)
    browser = window.dataset_browser
    qtbot.waitUntil(lambda: browser.reading.question is not None and browser.reading.question.isVisible(), timeout=60000)
    question = browser.reading.question
    assert "semicolon-separated table with 2 column(s) (code, group)" in question.informativeText()
    assert set(question.kind_buttons) == {"image", "text"} and window.state.dataset is None
    _shot(question, tmp_path, "spreadsheet-question.png")
    question.kind_buttons["text"].click()
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=60000)
    assert window.state.project.task == "text" and len(window.state.dataset.samples) == 10
    close_window(window)


def test_the_encoding_choice_reads_a_windows_1252_file(qtbot, tmp_path):
    data = tmp_path / "excel.csv"
    data.write_bytes(table_text("es", ";").encode("cp1252"))
    window = _window(qtbot)
    _drop(window, data)
    browser = window.dataset_browser
    qtbot.waitUntil(lambda: browser.message.isVisible(), timeout=60000)
    assert "read as UTF-8" in browser.message.text() and "Encoding in the Data tab" in browser.message.text()
    browser.reading.encoding_choice.setCurrentIndex(browser.reading.encoding_choice.findData("cp1252"))
    browser.reading.encoding_choice.activated.emit(browser.reading.encoding_choice.currentIndex())
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=60000)
    assert window.state.project.data.encoding == "cp1252" and len(window.state.dataset.samples) == 20
    assert "Adiós, nos vemos mañana." in {s.text for s in window.state.dataset.samples}
    assert "cp1252" in browser.pages["text"].report_label.text()
    close_window(window)

"""The Export tab: an INT8 ONNX export from the button shows its verification report as a table."""
import json

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.core.runs.run_factory import make_run
from tlstudio.gui.panels.export_tab import ExportTab, export_name

pytest.importorskip("onnxruntime")
TIMEOUT_MS = 180_000


def test_int8_export_from_the_button_shows_the_report_table(qtbot, tmp_path, monkeypatch):
    run = make_run(tmp_path / "run")
    tab = ExportTab(lambda: (str(run), []))
    qtbot.addWidget(tab)
    tab.set_available(True)
    assert not tab.report_table.isVisibleTo(tab)                 # no report before an export
    tab.precision.setCurrentIndex(tab.precision.findData("int8"))
    assert export_name(str(run), "onnx", "int8") == "run.int8.onnx"
    target = tmp_path / "run.int8.onnx"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(tab.exported, timeout=TIMEOUT_MS) as blocker:
        tab.buttons["onnx"].click()
    info = blocker.args[0]
    assert info["precision"] == "int8" and target.is_file()
    report = json.loads((tmp_path / "run.int8.export_report.json").read_text())
    table = tab.report_table
    assert tab.report_table.isVisibleTo(tab) and table.rowCount() == 1
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[:3] == ["File", "Precision", "Agreement"] and "p50 ms" in headers
    row = {h: table.item(0, c).text() for c, h in enumerate(headers)}
    assert row["File"] == "run.int8.onnx" and row["Precision"] == "INT8"
    assert row["Agreement"] == f"{100 * report['exports'][0]['top1_agreement']:.1f} %"
    assert "smaller" in row["vs FP32"]
    assert "MODEL_CARD.md" in tab.report_notes.text() and "static INT8" in tab.report_notes.text()
    assert "Verification report" in tab.report_title.text()

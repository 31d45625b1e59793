"""Model tab → Compare models…: candidates listed in a worker, the comparison fills the sortable table and
the chart, "Use this model" sets the project's model, Cancel stops a comparison."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt

from tlstudio.gui.panels.compare_dialog import CompareDialog
from tlstudio.gui.panels.model_panel import ModelPanel
from tlstudio.gui.state import ProjectState
from tests.demo_subset import make_subset

COMPARED = ("tf_efficientnet_lite0", "tf_efficientnet_lite1")


def _state(tmp_path, per_class=6) -> ProjectState:
    state = ProjectState()
    state.project.data.path = str(make_subset(tmp_path / "data", per_class=per_class))
    state.project.model.image_size = 64
    state.project.data.test_fraction = 0.2
    state.project_path = tmp_path / "proj.json"
    return state


def _listed(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: dialog.candidates.count() >= 3 and dialog.run_button.isEnabled(), timeout=180000)


def _check_only(dialog, names) -> None:
    for i in range(dialog.candidates.count()):
        item = dialog.candidates.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)


def test_compare_fills_the_table_and_use_this_model_sets_the_project_model(qtbot, tmp_path):
    state = _state(tmp_path)
    panel = ModelPanel(state)
    qtbot.addWidget(panel)
    panel.open_compare()
    dialog = panel.compare_dialog
    _listed(qtbot, dialog)
    names = [dialog.candidates.item(i).text() for i in range(dialog.candidates.count())]
    assert names[:3] == ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"]
    _check_only(dialog, COMPARED)
    dialog.run()
    assert dialog.is_running() and not dialog.run_button.isEnabled() and dialog.cancel_button.isVisibleTo(dialog)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=600000)
    assert dialog.table.rowCount() == 2, dialog.status.text()
    shown = {dialog.table.item(i, 1).text() for i in range(2)}
    assert shown == set(COMPARED) and "Saved to" in dialog.status.text()
    assert (tmp_path / "proj.compare.json").is_file()
    assert any(dialog.table.item(i, 0).text() == "★" for i in range(2))          # a Pareto front
    assert all(dialog.table.item(i, 2).text().endswith("%") for i in range(2))
    # sorted by accuracy, best first; a click on Latency sorts by the number, fastest first
    accs = [dialog.table.item(i, 2).key for i in range(2)]
    assert accs == sorted(accs, reverse=True)
    dialog.table.sortByColumn(4, Qt.SortOrder.AscendingOrder)
    lat = [dialog.table.item(i, 4).key for i in range(2)]
    assert lat == sorted(lat)
    assert len(dialog.chart.plotted()) == 2
    qtbot.waitUntil(lambda: not dialog.chart.busy(), timeout=60000)
    # the exported model's latency: the cell's tooltip says which runtime measured it
    assert all(dialog.table.item(i, 4).toolTip().startswith("ONNX model in onnxruntime") for i in range(2))
    assert not any("PyTorch" in dialog.table.item(i, 4).text() for i in range(2))
    shots = Path(os.environ.get("TLSTUDIO_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(shots / "compare_dialog.png"))
    # The project's model is Lite0: Use is off on its row and on for Lite1, which it then makes the model.
    assert dialog.select_model("tf_efficientnet_lite0") and not dialog.use_button.isEnabled()
    assert dialog.select_model("tf_efficientnet_lite1") and dialog.use_button.isEnabled()
    dialog.use_button.click()
    assert state.project.model.name == "tf_efficientnet_lite1" and state.dirty
    assert not dialog.use_button.isEnabled()
    assert dialog.chart.selected == ("tf_efficientnet_lite1", "auto")
    # Opened again, the dialog shows the saved leaderboard before anything runs.
    dialog.close()
    panel.open_compare()
    again = panel.compare_dialog
    assert again is not dialog
    qtbot.waitUntil(lambda: again.table.rowCount() == 2, timeout=180000)
    assert "last comparison" in again.status.text()


def test_cancel_stops_the_comparison(qtbot, tmp_path):
    state = _state(tmp_path, per_class=20)
    dialog = CompareDialog(state)
    qtbot.addWidget(dialog)
    _listed(qtbot, dialog)
    _check_only(dialog, COMPARED)
    dialog.run()
    qtbot.waitUntil(lambda: "extracting" in dialog.status.text(), timeout=180000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=120000)
    assert dialog.status.text().startswith("Cancelled") and dialog.run_button.isEnabled()
    assert dialog.table.rowCount() == 0

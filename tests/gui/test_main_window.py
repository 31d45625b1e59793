"""Main window: the demo project, freezing through the tree, save/reopen, prompts, drops."""
import json

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel, QMessageBox, QTreeView, QWidget

from tlstudio.core import paths
from tlstudio.core.model.layers import frozen_modules
from tlstudio.gui.app import build_main_window, parse_args
from tlstudio.gui.main_window import settings
from tlstudio.gui.itemmodels.layer_tree import COL_NAME

from .conftest import close_window, wait_ready

CHECK = Qt.ItemDataRole.CheckStateRole


def test_demo_project_opens_with_model_and_data(demo_window):
    window = demo_window
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs[:3] == ["Data", "Model", "Head"]
    for name in ("modelTree", "headDesigner", "datasetBrowser"):
        assert window.findChild(QWidget, name) is not None, name
    state = window.state
    assert state.project.data.path == str(paths.demo_data_dir())
    assert len(state.dataset.classes) == 6 and state.project.head.num_classes == 6
    assert state.model.model_name and state.model.head[-1].out_features == 6
    assert not state.dirty
    assert "300 images" in window.data_status.text()
    # Ctrl+1..5 switch tabs.
    third = next(a for a in window.actions() if a.shortcut().toString() == "Ctrl+3")
    third.trigger()
    assert window.tabs.currentWidget() is window.head_designer


def test_tree_checkboxes_freeze_the_core_and_presets_report_back(demo_window):
    window = demo_window
    panel = window.model_panel
    tree = window.findChild(QTreeView, "modelTree")
    model, items = window.state.model, tree.model()
    assert window.state.project.frozen == ["base"]
    footer_before = panel.footer.text()
    blocks6 = items.index_of("base.blocks.6")
    assert items.data(blocks6, CHECK) == Qt.CheckState.Unchecked
    assert items.setData(blocks6, Qt.CheckState.Checked, CHECK)
    assert all(p.requires_grad for p in model.base.blocks[6].parameters())
    assert not any(p.requires_grad for p in model.base.blocks[5].parameters())
    assert window.state.dirty and window.state.project.frozen == frozen_modules(model)
    assert "base.blocks.6" not in window.state.project.frozen
    assert panel.footer.text() != footer_before
    assert items.setData(blocks6, Qt.CheckState.Unchecked, CHECK)
    assert not any(p.requires_grad for p in model.base.blocks[6].parameters())

    panel.unfreeze_spin.setValue(2)
    panel.unfreeze_button.click()
    assert items.data(items.index_of("base.blocks.5"), CHECK) == Qt.CheckState.Checked
    assert items.data(items.index_of("base.blocks.4"), CHECK) == Qt.CheckState.Unchecked
    assert items.data(items.index_of("base"), CHECK) == Qt.CheckState.PartiallyChecked
    panel.freeze_button.click()
    assert items.data(items.index_of("base"), CHECK) == Qt.CheckState.Unchecked
    assert window.state.project.frozen == ["base"]
    removed = items.index_of(next(n.name for n in items.root.walk() if n.removed), COL_NAME)
    assert "(removed)" in items.data(removed)


def test_save_then_reopen_gives_the_same_project(demo_window, tmp_path, qtbot):
    window = demo_window
    state = window.state
    window.head_designer.add_layer("linear", width=48)
    window.model_panel.unfreeze_last(1)
    window.dataset_browser.val_spin.setValue(0.3)
    window.dataset_browser.seed_spin.setValue(5)
    target = tmp_path / "proj" / "demo.json"
    target.parent.mkdir()
    assert window._save_to(target)
    assert not state.dirty and state.project_path == target
    saved = json.loads(target.read_text())
    assert saved["data"]["val_fraction"] == 0.3 and saved["head"]["layers"][-1] == {"type": "linear", "width": 48}
    assert window.recent_files()[0] == str(target)

    again = build_main_window(project_path=target)
    qtbot.addWidget(again)
    wait_ready(qtbot, again)
    assert again.state.project.to_dict() == state.project.to_dict()
    assert frozen_modules(again.state.model) == state.project.frozen != ["base"]
    assert again.state.model.head[-2].out_features == 48
    assert again.dataset_browser.val_spin.value() == 0.3
    assert not again.state.dirty
    close_window(again)


def test_unsaved_changes_prompt_on_close(demo_window, dialogs, tmp_path):
    window = demo_window
    window.head_designer.add_layer("activation")
    assert window.state.dirty and window.isWindowModified()
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible() and dialogs.calls[-1][1] == "Unsaved changes"
    # Save with a file chosen: the project is written, then the window closes.
    window.state.project_path = tmp_path / "p.json"
    dialogs.answer = QMessageBox.StandardButton.Save
    assert window.close()
    assert (tmp_path / "p.json").exists() and not window.state.dirty
    # the window's own settings (a throw-away file here), not an explicit (org, app) pair
    assert settings().value("window/geometry") is not None


def test_discard_closes_without_writing(demo_window, dialogs, tmp_path):
    window = demo_window
    window.state.project_path = tmp_path / "never.json"
    window.head_designer.add_layer("layernorm")
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert window.close()
    assert not (tmp_path / "never.json").exists()


def test_closing_during_training_asks_then_stops(demo_window, dialogs, monkeypatch):
    window = demo_window
    calls = []
    panel = window.training_panel
    monkeypatch.setattr(panel, "is_running", lambda: True)
    monkeypatch.setattr(panel, "stop_and_wait", lambda timeout_ms=0: calls.append(timeout_ms) or True)
    dialogs.answer = QMessageBox.StandardButton.No
    assert not window.close() and calls == []
    dialogs.answer = QMessageBox.StandardButton.Yes
    assert window.close() and calls
    assert dialogs.calls[-1][1] == "Training is running"


def test_dropping_a_folder_opens_it_as_dataset(qtbot, tmp_path):
    from PIL import Image

    for cls in ("x", "y"):
        (tmp_path / "drop" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(tmp_path / "drop" / cls / f"{i}.png")
    window = build_main_window()
    qtbot.addWidget(window)
    assert window.state.project.data.path == ""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "drop"))])
    event = QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)    # on the start page: a new project, then the scan of the folder
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=30000)
    assert window.state.dataset.classes == ["x", "y"] and window.state.project.task == "image"
    assert window.tabs.currentWidget() is window.dataset_browser
    assert window.state.project.head.num_classes == 2
    qtbot.waitUntil(lambda: not window.model_panel.is_loading(), timeout=60000)
    close_window(window)


def test_command_line_arguments():
    args = parse_args(["my.json", "--demo"])
    assert args.project == "my.json" and args.demo
    assert parse_args([]).project is None


def test_model_errors_are_shown_in_the_panel(demo_window, qtbot, tmp_path):
    panel = demo_window.model_panel
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint at all")
    panel.import_weights(str(bad))
    assert demo_window.state.project.model.weights.to_json() == str(bad) and demo_window.state.dirty
    qtbot.waitUntil(lambda: not panel.is_loading(), timeout=60000)
    error = panel.findChild(QLabel, "modelError")
    assert error.isVisibleTo(panel) and error.text()
    assert "Traceback" not in error.text()
    assert demo_window.state.model is None and panel.tree_model.rowCount() == 0
    # Back to the bundled weights of the same model.
    qtbot.waitUntil(lambda: panel.selected_name() == "tf_efficientnet_lite0", timeout=60000)
    assert panel.use_button.isEnabled()
    panel.use_button.click()
    assert demo_window.state.project.model.weights.to_json() == "auto"
    qtbot.waitUntil(lambda: demo_window.state.model is not None, timeout=60000)
    assert not error.isVisibleTo(panel) and panel.tree_model.rowCount() == 2


def test_catalog_search_and_family_filter(demo_window, qtbot):
    panel = demo_window.model_panel
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=60000)
    panel.search.setText("resnet")
    rows = [(panel.table.item(r, 0).text() + " " + panel.table.item(r, 1).text()).lower()
            for r in range(panel.table.rowCount())]
    assert rows and all("resnet" in row for row in rows) and any(row.startswith("resnet18 ") for row in rows)
    panel.search.clear()
    panel.family.setCurrentIndex(panel.family.findData("VGG"))
    families = {panel.table.item(r, 1).text() for r in range(panel.table.rowCount())}
    assert families == {"VGG"}
    weights = {panel.table.item(r, 4).text() for r in range(panel.table.rowCount())}
    assert weights <= {"download (needs network)", "unavailable — import a file…", "in the local cache"}

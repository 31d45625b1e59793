"""Head designer: edits reach project.head, the parameter count and the loaded model's head."""
from PySide6.QtWidgets import QLabel, QListWidget
from torch import nn

from tlstudio.core.model.head import HeadLayer
from tlstudio.gui.panels.head_designer import HeadDesigner
from tlstudio.gui.state import ProjectState


def test_edits_update_count_diagram_and_model_head(demo_window, qtbot):
    window = demo_window
    designer = window.head_designer
    state = window.state
    count = designer.findChild(QLabel, "headParamCount")
    diagram = designer.findChild(QLabel, "headDiagram")
    dim = state.model.feature_dim
    assert (state.num_classes(), dim) == (6, 1280)
    assert f"{dim * 6 + 6:,}" in count.text()
    assert "Output: Linear(6)" in designer.findChild(QLabel, "headOutput").text()
    state.set_dirty(False)

    designer.layer_list.setCurrentRow(0)                      # after the default Dropout
    designer.add_type.setCurrentIndex(designer.add_type.findData("linear"))
    designer.add_button.click()
    assert [layer.type for layer in state.project.head.layers] == ["dropout", "linear"]
    assert state.dirty
    assert f"{dim * 256 + 256 + 256 * 6 + 6:,}" in count.text()
    assert diagram.text() == "1280 → Dropout(0.2) → Linear(256) → Linear(6)"
    # The loaded model's head was rebuilt (in a worker), and the layer tree shows it.
    qtbot.waitUntil(lambda: not window.model_panel.is_building_head(), timeout=30000)
    assert isinstance(state.model.head[1], nn.Linear) and state.model.head[1].out_features == 256
    head_index = window.model_panel.tree_model.index_of("head")
    assert window.model_panel.tree_model.rowCount(head_index) == 3

    designer.width_spin.setValue(64)                           # the new layer is selected
    assert state.project.head.layers[1].width == 64
    assert f"{dim * 64 + 64 + 64 * 6 + 6:,}" in count.text()
    qtbot.waitUntil(lambda: not window.model_panel.is_building_head(), timeout=30000)
    assert state.model.head[1].out_features == 64

    designer.add_layer("activation", activation="gelu")
    designer.move_layer(2, -1)
    assert [layer.type for layer in state.project.head.layers] == ["dropout", "activation", "linear"]
    assert diagram.text() == "1280 → Dropout(0.2) → GELU → Linear(64) → Linear(6)"
    designer.remove_layer(0)
    assert [layer.type for layer in state.project.head.layers] == ["activation", "linear"]
    qtbot.waitUntil(lambda: not window.model_panel.is_building_head(), timeout=30000)
    assert isinstance(state.model.head[0], nn.GELU)


def test_dropout_is_bounded_and_count_needs_a_model(qtbot):
    state = ProjectState()
    state.project.head.layers = [HeadLayer("dropout", p=0.2)]
    designer = HeadDesigner(state)
    qtbot.addWidget(designer)
    assert designer.findChild(QListWidget, "headLayerList").count() == 1
    designer.layer_list.setCurrentRow(0)
    assert "head" in state.project.training.auto
    designer.dropout_spin.setValue(0.99)                       # clamped by the spin box
    assert state.project.head.layers[0].p == 0.95
    assert "head" not in state.project.training.auto          # designed by the user: not searched
    state.project.head.validate()
    assert "load a model" in designer.param_label.text()
    assert designer.diagram.text() == "features → Dropout(0.95) → Linear(2)"


def test_typing_a_width_builds_no_modules_on_the_gui_thread(demo_window, qtbot, monkeypatch):
    import threading

    from PySide6.QtCore import Qt

    from tlstudio.core.model.head import HeadSpec

    window = demo_window
    designer, state = window.head_designer, window.state
    designer.add_layer("linear", width=8)
    qtbot.waitUntil(lambda: not window.model_panel.is_building_head(), timeout=30000)
    builds = []
    real_build = HeadSpec.build

    def watched(self, *args, **kwargs):
        builds.append(threading.current_thread() is threading.main_thread())
        return real_build(self, *args, **kwargs)

    monkeypatch.setattr(HeadSpec, "build", watched)
    spin = designer.width_spin
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "4096")                   # four keystrokes
    assert builds == [] and state.project.head.layers[-1].width == 8
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert state.project.head.layers[-1].width == 4096
    assert builds == []                                         # debounced, not built right here
    qtbot.waitUntil(lambda: not window.model_panel.is_building_head(), timeout=30000)
    assert builds == [False]                                    # once, in a worker
    assert state.model.head[-2].out_features == 4096

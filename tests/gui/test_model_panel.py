"""Model panel: loading a model leaves the project with a frozen set that fits it."""
import torch

from tlstudio.core.model.head import HeadSpec
from tlstudio.core.model.layers import apply_frozen
from tlstudio.core.project import Project
from tlstudio.core.model.build import create_transfer_model
from tlstudio.core.zoo.sources import WeightsSource
from tlstudio.core.zoo.weights import build_model
from tlstudio.gui.panels.model_panel import ModelPanel
from tlstudio.gui.state import ProjectState

MODEL = "mobilenet_v3_small"


def test_a_model_whose_weights_load_replaces_a_frozen_list_from_another_model(qtbot, tmp_path):
    # Imported weights that load, and a frozen list saved for the bundled EfficientNet.
    weights = tmp_path / "mobilenet.pth"
    torch.save(build_model(MODEL).state_dict(), weights)
    project = Project()
    project.model.name = MODEL
    project.model.weights = str(weights)
    project.frozen = ["base.conv_stem", "base.bn1", "base.blocks"]
    state = ProjectState()
    panel = ModelPanel(state)
    qtbot.addWidget(panel)
    state.replace_project(project)
    qtbot.waitUntil(lambda: not panel.is_loading() and state.model is not None, timeout=120000)
    assert state.project.model.weights == WeightsSource.file(weights)
    # The model froze its whole base, and the project says so: training can apply it.
    assert state.project.frozen == ["base"] and state.dirty
    fresh = create_transfer_model(MODEL, HeadSpec.default(2), 2, weights="none")
    apply_frozen(fresh, state.project.frozen)       # raised "no layer named base.conv_stem" before
    assert not any(p.requires_grad for p in fresh.base.parameters())


def test_choosing_another_model_starts_from_its_frozen_base(qtbot):
    state = ProjectState()
    state.project.frozen = ["base.conv_stem", "base.blocks.0"]
    changes = []
    state.changed.connect(changes.append)
    state.choose_model(MODEL)
    assert state.project.model.name == MODEL and state.project.frozen == ["base"]
    assert changes == ["model"] and state.dirty
    state.choose_model(MODEL)                       # the same choice again changes nothing
    assert changes == ["model"]

"""Zero labels in the GUI: the Results tab's baseline row (real MiniLM, in a worker), pre-labelling the pool
only after a yes, the Data tab's class descriptions, and the Train tab's few-label mode."""
import pytest

from tlstudio.core.project import Project
from tlstudio.gui.state import ProjectState
from tlstudio.gui.widgets.class_descriptions import ClassDescriptions
from tlstudio.gui.widgets.training_settings import TrainingSettingsForm
from tlstudio.gui.widgets.zero_shot_baseline import NOT_MEASURED, ZeroShotBaseline

from tests.core.zeroshot.demo_pool import DEMO, demo_with_pool

pytest.importorskip("transformers")


def _state_with_pool(per_class=6, pool=2):
    project = Project(name="zero", task="text")
    project.data.path = str(DEMO)
    project.model.name = "all-MiniLM-L6-v2"
    state = ProjectState(project)
    state.set_dataset(demo_with_pool(per_class, pool)[0])
    return state


def test_the_baseline_row_measures_zero_shot_in_a_worker_and_stores_suggestions_only_after_yes(qtbot, tmp_path):
    state = _state_with_pool()
    row = ZeroShotBaseline(state)
    qtbot.addWidget(row)
    assert row.label.text() == NOT_MEASURED and row.prelabel_button.isHidden()
    with qtbot.waitSignal(row.measured, timeout=300_000):
        row.measure()
    text = row.label.text()
    assert text.startswith("Zero-shot (class names): acc") and "on 36 labelled texts" in text
    assert row.result.accuracy > 3 / 6 and not row.prelabel_button.isHidden()
    row.resize(1100, 60)
    row.grab().save(str(tmp_path / "zero-shot-row.png"))
    asked = []
    row.confirm = lambda message: asked.append(message) or False
    assert not row.store_suggestions() and state.project.data.suggestions == {} and not state.dirty
    row.confirm = lambda message: asked.append(message) or True
    assert row.store_suggestions() and len(asked) == 2 and "suggestions" in asked[0]
    stored = state.project.data.suggestions
    assert len(stored) == 12 and all(v["label"] in state.dataset.classes for v in stored.values())
    assert state.project.data.label_overrides == {} and state.dirty      # suggestions, not labels


def test_class_descriptions_are_edited_into_the_project(qtbot):
    state = _state_with_pool()
    state.project.data.class_descriptions = {"food": "something to eat"}
    editor = ClassDescriptions(state)
    qtbot.addWidget(editor)
    names = [editor.table.item(r, 0).text() for r in range(editor.table.rowCount())]
    assert names == state.dataset.classes
    row = names.index("feeling")
    assert editor.table.item(names.index("food"), 1).text() == "something to eat"
    editor.table.item(row, 1).setText("  an emotion \n or mood ")
    assert state.project.data.class_descriptions == {"food": "something to eat", "feeling": "an emotion or mood"}
    editor.table.item(names.index("food"), 1).setText("")
    assert state.project.data.class_descriptions == {"feeling": "an emotion or mood"} and state.dirty


def test_the_few_label_mode_is_a_train_tab_setting(qtbot):
    state = ProjectState(Project(task="text"))
    form = TrainingSettingsForm(state)
    qtbot.addWidget(form)
    form.reload()
    combo = form.widget_for("training", "few_shot")
    assert combo.currentData() == "auto"
    combo.setCurrentIndex(combo.findData("contrastive"))
    assert state.project.training.few_shot == "contrastive"


def test_the_few_labels_box_speaks_the_project_modalitys_words(qtbot):
    """Text: the encoder tunings and the probe that decides; images: one plain line, nothing to choose.
    A task switch rewords the box; a run's decision shows under it."""
    state = ProjectState(Project(task="image"))
    form = TrainingSettingsForm(state)
    qtbot.addWidget(form)
    form.reload()
    combo = form.widget_for("training", "few_shot")
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == ["Not used for images"] and not combo.isEnabled() and "text encoders" in combo.toolTip()
    assert not form.few_label_note.isHidden() and "pretrained base" in form.few_label_note.text()
    state.project.task = "text"
    form.reload()
    assert [combo.itemData(i) for i in range(combo.count())] == ["auto", "contrastive", "off"]
    assert combo.isEnabled() and combo.itemText(0) == "Automatic: tune when needed"
    assert "class whose mean" in combo.toolTip() and combo.currentData() == "auto"
    assert form.few_label_note.isHidden()                 # nothing decided yet
    form.show_few_label_decision("Few labels: encoder kept frozen: its features already separate the classes.")
    assert not form.few_label_note.isHidden()
    assert form.few_label_note.text() == "Last run: encoder kept frozen: its features already separate the classes."

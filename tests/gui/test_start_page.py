"""The start page: shown when the app opens with no project; each action opens what it says."""
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tlstudio.core.data.modality import modality_for
from tlstudio.core.project import Project
from tlstudio.gui import demos
from tlstudio.gui.app import build_main_window
from tlstudio.gui.widgets.charts import CurveChart

from .conftest import close_window

TEXT_DEFAULT_MODEL = modality_for("text").default_model


def make_window(qtbot):
    window = build_main_window()
    qtbot.addWidget(window)
    window.show()
    return window


def test_the_app_without_a_project_opens_on_the_start_page(qtbot):
    window = make_window(qtbot)
    assert window.is_start_page_shown()
    assert window.start_page.isVisible() and not window.tabs.isVisible()
    assert window.windowTitle() == "TL Studio"
    close_window(window)


def test_recent_projects_are_listed_and_open(qtbot, tmp_path):
    project = Project(name="old one")
    path = tmp_path / "old.json"
    project.save(path)
    first = make_window(qtbot)
    first._add_recent(str(path))
    close_window(first)
    window = make_window(qtbot)
    items = window.start_page.recent_list
    assert items.count() == 1 and items.item(0).data(Qt.ItemDataRole.UserRole) == str(path)
    assert not window.start_page.recent_empty.isVisibleTo(window.start_page)
    items.itemActivated.emit(items.item(0))
    assert not window.is_start_page_shown()
    assert window.state.project_path == path and window.state.project.name == "old one"
    close_window(window)


def test_text_demo_button_opens_the_text_demo_on_the_data_tab(qtbot):
    window = make_window(qtbot)
    window.start_page.text_demo_button.click()
    assert not window.is_start_page_shown() and window.tabs.currentWidget() is window.dataset_browser
    project = window.state.project
    assert project.task == "text" and project.model.name == TEXT_DEFAULT_MODEL
    assert Path(project.data.path).is_file() and project.data.path.endswith(".csv")
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=60000)
    assert len(window.state.dataset.classes) == 6
    assert "360 texts" in window.data_status.text()
    close_window(window)


def test_image_demo_and_new_projects_from_the_start_page(qtbot):
    window = make_window(qtbot)
    window.start_page.demo_button.click()
    assert window.state.project.task == "image" and window.state.project.data.path.endswith("demo_data")
    window.show_start_page()
    assert window.is_start_page_shown()
    window.start_page.new_text_button.click()
    assert window.state.project.task == "text" and window.state.project.data.path == ""
    assert window.state.project.model.name == TEXT_DEFAULT_MODEL
    window.show_start_page()
    window.start_page.new_image_button.click()
    assert window.state.project.task == "image" and window.state.project.model.name != TEXT_DEFAULT_MODEL
    assert not window.is_start_page_shown()
    close_window(window)


def test_a_folder_dropped_on_the_start_page_becomes_the_dataset(qtbot, tmp_path):
    window = make_window(qtbot)
    data = tmp_path / "texts"
    for label, words in (("cats", "purr meow whiskers"), ("dogs", "bark woof fetch")):
        (data / label).mkdir(parents=True)
        for i in range(3):
            (data / label / f"{i}.txt").write_text(f"{words} number {i}", encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data))])
    page = window.start_page
    event = QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)
    assert not window.is_start_page_shown()
    assert window.state.project.data.path == str(data)
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=60000)
    # The scan saw .txt class folders: the project became a text project with a text model.
    assert window.state.project.task == "text" and window.state.project.model.name == TEXT_DEFAULT_MODEL
    assert window.state.dataset.counts() == {"cats": 3, "dogs": 3}
    close_window(window)


def test_a_new_project_starts_with_its_modality_s_default_model():
    from tlstudio.core.zoo.cards import DEFAULT_MODEL
    from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL

    assert modality_for("text").default_model == DEFAULT_TEXT_MODEL != DEFAULT_MODEL
    assert modality_for("image").default_model == DEFAULT_MODEL
    for task in ("image", "text"):
        assert demos.new_project(task).model.name == modality_for(task).default_model


def test_an_empty_curve_chart_shows_a_hint_not_tiny_axes(qtbot):
    chart = CurveChart("lossChart", "Loss", "loss")
    qtbot.addWidget(chart)
    assert chart.is_empty() and chart.hint.get_visible()
    assert chart.ax.get_ylim() == (0.0, 1.0)          # not -0.05..0.05
    chart.add_point(1, 2.0, 3.0)
    assert not chart.is_empty() and chart.ax.get_ylim()[1] >= 3.0
    chart.clear()
    assert chart.is_empty() and chart.ax.get_ylim() == (0.0, 1.0)


def test_save_and_export_are_disabled_on_the_start_page_and_say_why(qtbot, dialogs):
    window = make_window(qtbot)
    assert window.is_start_page_shown()
    for action in (window.save_action, window.save_as_action, window.export_action):
        assert not action.isEnabled() and "Open or create a project first" in action.toolTip()
    window.new_project("image")
    assert window.save_action.isEnabled() and not window.export_action.isEnabled()
    assert "Train a model first" in window.export_action.toolTip()       # no run yet
    window.state.add_run("/runs/run-1", {"name": "run-1", "val_accuracy": 0.5})
    assert window.export_action.isEnabled()
    # Ctrl+1…6 do nothing on the start page (there are no tabs to show).
    window.show_start_page()
    window.tab_actions[2].trigger()
    assert window.is_start_page_shown()
    close_window(window)


def test_help_lists_the_keyboard_shortcuts(qtbot, dialogs):
    window = make_window(qtbot)
    window.shortcuts_action.trigger()
    kind, title, text = dialogs.calls[-1]
    assert title == "Keyboard shortcuts"
    for keys, what in (("Ctrl+1", "Show the Data tab"), ("Ctrl+6", "Show the Audit tab"),
                       ("Ctrl+S", "Save"), ("Ctrl+Shift+N", "New text project"), ("F1", "Keyboard shortcuts")):
        assert f"<b>{keys}</b>" in text and what in text, (keys, what)
    close_window(window)

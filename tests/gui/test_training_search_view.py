"""The Train tab shows what fitted the head: the search's curves and choices, or the epoch loop's curves;
the settings say auto / chosen / pinned; a pinned learning rate in a text project is the one used."""
import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from tlstudio.core.project import Project
from tlstudio.core.runs.run_folder import SEARCH_CURVES as SEARCH_CURVES_NAME
from tlstudio.gui.demos import demo_text_data
from tlstudio.gui.panels.training_panel import TrainingPanel
from tlstudio.gui.widgets.charts import EMPTY_HINT, RUNNING_HINT
from tlstudio.gui.state import ProjectState
from tests.demo_subset import make_subset

RUN_TIMEOUT_MS = 600_000


def image_project(root: Path, head_fit: str = "search") -> Project:
    project = Project(name="search view")
    project.data.path = str(make_subset(root / "data", 25))
    project.model.image_size = 64
    project.training.head_fit = head_fit
    project.training.epochs = 3
    project.finetune.enabled = False
    return project


def run(qtbot, panel) -> dict:
    with qtbot.waitSignal(panel.trainingFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        panel.start()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30_000)
    result = blocker.args[0]
    assert result["error"] is None, result["error"]
    return result


def points(chart) -> tuple[int, int]:
    series = chart.series()
    finite = lambda values: sum(1 for v in values if v == v)      # noqa: E731 - NaN is not a point
    return finite(series["val"]), finite(series["train"])


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "appdata"))
    return tmp_path


def test_a_default_search_run_draws_both_charts_marks_the_chosen_values_and_reopens(qtbot, isolated):
    state = ProjectState(image_project(isolated))
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    panel.resize(1300, 800)
    panel.show()
    lr = panel.widget_for("training", "lr")
    assert lr.text() == "auto" and panel.settings.marks["lr"].isHidden()     # before any run: "auto"
    hints = [panel.charts.loss.hint.get_text()]
    panel.trainingStarted.connect(lambda _: hints.append(panel.charts.accuracy.hint.get_text()))
    result = run(qtbot, panel)
    # Empty charts say what comes: before a run, and while it prepares (model, features) — never "press Start".
    assert hints == [EMPTY_HINT, RUNNING_HINT]
    run_dir = Path(result["run_dir"])
    search = json.loads((run_dir / "search.json").read_text())
    # Both charts hold the winner's held-out curve; the loss chart also the refit's training loss.
    loss_val, loss_train = points(panel.charts.loss)
    acc_val, _ = points(panel.charts.accuracy)
    assert loss_val >= 2 and acc_val >= 2 and loss_train == search["winner"]["epochs"]
    assert len(panel.charts.loss.search_series["candidates"]) == len(search["trials"])
    legend = panel.charts.loss.ax.get_legend().get_texts()[0].get_text()
    assert legend.startswith(f"{search['folds']}-fold CV, {search['winner']['head']}, lr ")
    # The values the search chose show, marked as chosen; the finish line says what happened.
    assert panel.widget_for("training", "epochs").value() == search["winner"]["epochs"]
    assert lr.value() == pytest.approx(search["winner"]["lr"])
    assert panel.settings.marks["lr"].badge.text() == "✓ chosen"
    log = panel.log_view.toPlainText()
    assert f"head chosen by {search['folds']}-fold search over {len(search['trials'])} candidates" in log
    table = panel.search_table
    winner_row = [r for r in range(table.rowCount()) if table.item(r, 7).text() == "★ winner"]
    assert winner_row == [[t["winner"] for t in search["trials"]].index(True)]
    # The curves are in the run folder: after a reset, reopening the run draws the same ones.
    saved = panel.charts.loss.series(), panel.charts.accuracy.series()
    assert (run_dir / SEARCH_CURVES_NAME).is_file()
    panel.reset_for_new_project()
    assert panel.charts.loss.is_empty() and panel.charts.accuracy.is_empty()
    assert panel.search_table.rowCount() == 0 and panel.log_view.toPlainText() == ""
    assert lr.text() == "auto"                                      # the chosen marks are gone
    assert panel.show_run(run_dir)
    assert (panel.charts.loss.series(), panel.charts.accuracy.series()) == saved


def test_a_fixed_epochs_run_draws_its_epochs_in_both_charts(qtbot, isolated):
    state = ProjectState(image_project(isolated, head_fit="epochs"))
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.widget_for("training", "epochs").value() == 3 and panel.settings.marks["epochs"].isHidden()
    result = run(qtbot, panel)
    assert points(panel.charts.loss) == (3, 3) and points(panel.charts.accuracy) == (3, 3)
    assert not (Path(result["run_dir"]) / SEARCH_CURVES_NAME).exists()
    assert "best validation accuracy" in panel.log_view.toPlainText()
    saved = panel.charts.loss.series()
    panel.reset_for_new_project()
    assert panel.show_run(result["run_dir"]) and panel.charts.loss.series() == saved


def test_a_pinned_learning_rate_in_a_text_project_is_the_one_the_run_uses(qtbot, isolated):
    project = Project(task="text", name="pinned lr")
    from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL
    project.choose_model(DEFAULT_TEXT_MODEL)
    project.data.path = str(demo_text_data())
    project.finetune.enabled = False
    state = ProjectState(project)
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    lr = panel.widget_for("training", "lr")
    # Fixed epochs shows the text default; typing the stored value (1e-3) still pins it.
    panel.head_fit_combo.setCurrentIndex(panel.head_fit_combo.findData("epochs"))
    assert lr.value() == pytest.approx(1e-2) and project.training.lr == pytest.approx(1e-3)
    lr.setValue(1e-3)
    assert "lr" not in project.training.auto and project.epoch_lr() == pytest.approx(1e-3)
    # Back in Automatic the pinned value shows, marked, with a way back to auto (used, then re-pinned).
    panel.head_fit_combo.setCurrentIndex(panel.head_fit_combo.findData("search"))
    mark = panel.settings.marks["lr"]
    assert lr.value() == pytest.approx(1e-3) and mark.badge.text() == "📌 pinned" and not mark.reset.isHidden()
    mark.reset.click()
    assert "lr" in project.training.auto and lr.text() == "auto"
    lr.setValue(1e-3)
    assert "lr" not in project.training.auto and mark.badge.text() == "📌 pinned"
    result = run(qtbot, panel)
    search = json.loads((Path(result["run_dir"]) / "search.json").read_text())
    assert search["trials"] and all(t["lr"] == pytest.approx(1e-3) for t in search["trials"])
    assert "lr" in search["explicit"] and search["winner"]["lr"] == pytest.approx(1e-3)
    assert points(panel.charts.loss)[0] >= 2 and points(panel.charts.accuracy)[0] >= 2


def test_every_setting_explains_itself_and_the_keyboard_walks_the_settings_first(qtbot):
    state = ProjectState(Project(name="no data"))
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    widgets = panel.settings.widgets()
    assert len(widgets) >= 20 and all(w.toolTip().strip() for w in widgets)
    # Start needs a dataset; the tooltip says so.
    assert not panel.start_button.isEnabled() and "dataset" in panel.start_button.toolTip()
    state.project.data.path = "/somewhere"
    state.mark_changed("data")
    assert panel.start_button.isEnabled()
    # Tab order: from the first setting through all of them, then Start.
    seen, widget = [], widgets[0]
    for _ in range(200):
        seen.append(widget)
        if widget is panel.start_button:
            break
        widget = widget.nextInFocusChain()
        while not isinstance(widget, QWidget) or widget.focusPolicy() == 0:
            widget = widget.nextInFocusChain()
    assert seen[-1] is panel.start_button
    assert all(w in seen for w in widgets)

"""Results tab: "Show where the model looks" puts Grad-CAM overlays on the galleries and highlights words."""
import threading

import pytest
from PySide6.QtGui import QImage

from tlstudio.core.project import Project
from tlstudio.gui.panels.results_panel import ResultsPanel
from tlstudio.gui.state import ProjectState

from tests.core.runs.run_factory import make_run

TIMEOUT_MS = 180_000


def _panel(qtbot, run_dir, task="image") -> ResultsPanel:
    project = Project(name="explain test", task=task)
    project.add_run(str(run_dir), {"name": "tiny", "val_accuracy": 0.5, "cancelled": False})
    widget = ResultsPanel(ProjectState(project))
    qtbot.addWidget(widget)
    widget.resize(1280, 760)
    widget.show()
    with qtbot.waitSignal(widget.evaluated, timeout=TIMEOUT_MS):
        widget.load_selected()
    return widget


def _icon_image(grid, row: int) -> QImage:
    return grid.item(row).icon().pixmap(grid.thumb_px, grid.thumb_px).toImage()


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("explain_gui") / "run")


def test_the_toggle_shows_heat_maps_made_in_a_worker_and_puts_the_thumbnails_back(qtbot, image_run, tmp_path,
                                                                                  monkeypatch):
    import tlstudio.core.explain as explain

    threads = []
    real = explain.explain_image

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)
    monkeypatch.setattr(explain, "explain_image", recording)

    panel = _panel(qtbot, image_run)
    grid = panel.samples["image"].misclassified
    assert grid.count() > 0
    qtbot.waitUntil(lambda: not grid.is_running(), timeout=TIMEOUT_MS)
    plain = [_icon_image(grid, i) for i in range(grid.count())]
    heatmaps = panel.explain_controls.views["image"].grids[0]
    toggle = panel.explain_controls.toggle
    assert toggle.text() == "Show where the model looks" and panel.tabs.cornerWidget() is toggle
    with qtbot.waitSignal(heatmaps.overlaysShown, timeout=TIMEOUT_MS):
        toggle.setChecked(True)
    assert heatmaps.shown == grid.count()
    assert all(_icon_image(grid, i) != plain[i] for i in range(grid.count()))
    assert threads and all(t is not threading.main_thread() for t in threads)
    panel.grab().save(str(tmp_path / "results_heatmaps.png"))
    # The run's own model is untouched: explanations run on a private copy.
    assert panel.explain_controls.model.source is panel.loaded
    toggle.setChecked(False)
    assert heatmaps.shown == 0 and all(_icon_image(grid, i) == plain[i] for i in range(grid.count()))

    # "Try an image" with the toggle on: the new gallery gets overlays once its thumbnails are in.
    toggle.setChecked(True)
    try_heatmaps = panel.explain_controls.views["image"].grids[2]
    with qtbot.waitSignal(try_heatmaps.overlaysShown, timeout=TIMEOUT_MS):
        panel.try_images(grid.paths()[:2])
    assert try_heatmaps.shown == 2 == panel.try_grid.count()

    # A matrix cell's gallery too.
    matrix = panel.result["confusion_matrix"]
    true_index, predicted_index = next((i, j) for i, row in enumerate(matrix) for j, n in enumerate(row) if n)
    cell_heatmaps = panel.explain_controls.views["image"].grids[1]
    with qtbot.waitSignal(cell_heatmaps.overlaysShown, timeout=TIMEOUT_MS):
        panel.show_cell(true_index, predicted_index)
    assert cell_heatmaps.shown == panel.samples["image"].cell.count() == matrix[true_index][predicted_index]
    panel.stop_and_wait()


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    from tests.core.explain.text_runs import train_minilm_keyword_run

    base = tmp_path_factory.mktemp("explain_gui_text")
    return train_minilm_keyword_run(base / "run", base)


def test_text_runs_highlight_the_deciding_words(qtbot, text_run, tmp_path):
    panel = _panel(qtbot, text_run, task="text")
    controls = panel.explain_controls
    assert controls.toggle.text() == "Show the words that decide"
    controls.toggle.setChecked(True)
    panel.tabs.setCurrentIndex(2)
    highlight = controls.views["text"].try_highlight
    with qtbot.waitSignal(panel.predicted, timeout=TIMEOUT_MS):
        panel.try_text("the big red cat is very small")
    qtbot.waitUntil(lambda: highlight.result is not None, timeout=TIMEOUT_MS)
    words = highlight.result["words"]
    assert max(words, key=lambda w: w["score"])["token"] == "cat"
    assert highlight.isVisible() and highlight.body.text().count("<span") == 7
    assert "animals" in highlight.caption.text()
    panel.grab().save(str(tmp_path / "results_words.png"))

    # A matrix cell's text: select a row and its words are highlighted for its predicted class.
    panel.show_cell(1, 1)
    table = panel.samples["text"].cell
    cell_highlight = controls.views["text"].table_highlights[table]
    table.view.setCurrentIndex(table.proxy.index(0, 0))
    qtbot.waitUntil(lambda: cell_highlight.result is not None, timeout=TIMEOUT_MS)
    assert cell_highlight.result["class_name"] == table.visible_rows()[0][1]
    controls.toggle.setChecked(False)
    assert not highlight.isVisible() and not cell_highlight.isVisible()
    panel.stop_and_wait()

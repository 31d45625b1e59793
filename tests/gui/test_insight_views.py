"""Results tab insight views on real images: "How much more data" and the embedding map compute in a
worker, draw their chart, and the map's lasso excludes samples from the project."""
from __future__ import annotations

import html
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolTip

from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project
from tlstudio.gui.panels.data_needs import DataNeedsView
from tlstudio.gui.state import ProjectState
from tlstudio.gui.widgets import embedding_map as em_widget
from tlstudio.gui.widgets.embedding_map import EmbeddingMapView

TIMEOUT_MS = 180_000
SHOTS = Path(tempfile.gettempdir()) / "tlstudio-shots"      # offscreen renders, to look at
PER_CLASS = 24


@pytest.fixture
def state(tmp_path):
    data = tmp_path / "data"
    for cls in ("bag", "sneaker", "trouser"):
        (data / cls).mkdir(parents=True)
        for f in sorted((demo_data_dir() / cls).glob("*.png"))[:PER_CLASS]:
            shutil.copy(f, data / cls)
    project = Project(name="insight test")
    project.data.path = str(data)
    project.model.image_size = 64
    project.data.test_fraction = 0.2
    return ProjectState(project)


def _shot(widget, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / name))


def test_curves_compute_in_a_worker_and_show_chart_and_sentences(qtbot, state):
    view = DataNeedsView(state)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    with qtbot.waitSignal(view.computed, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
        # the click returned at once: the work is on a worker thread, the GUI stays live
        assert view.is_running() and not view.compute_button.isEnabled()
    curves = blocker.args[0]
    assert not view.is_running() and view.compute_button.isEnabled()
    assert sum(curves.counts) < 3 * PER_CLASS           # the test split stays out of the curves
    line = view.chart.lines["overall"]
    assert len(line.get_xdata()) == len(curves.fractions) and set(view.chart.lines) >= {"bag", "trouser"}
    assert curves.accuracy_mean[-1] >= curves.accuracy_mean[0]
    text = view.sentences.text()
    assert curves.texts and all(html.escape(t) in text for t in curves.texts)
    assert "repeats" in view.status.text()
    _shot(view, "data_needs.png")


def test_embedding_map_hover_click_and_lasso_exclusion(qtbot, state, monkeypatch):
    view = EmbeddingMapView(state)
    qtbot.addWidget(view)
    view.resize(900, 640)
    view.show()
    with qtbot.waitSignal(view.computed, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
        assert view.is_running()
    data = blocker.args[0]
    n = len(data["keys"])
    assert n == 3 * PER_CLASS and sorted(set(data["splits"])) == ["test", "train", "val"] and np.asarray(data["xy"]).shape == (n, 2)
    # the loaded run's predictions: one wrong one gets a ring
    wrong_path = data["paths"][0]
    others = [c for c in data["classes"] if c != data["classes"][int(data["labels"][0])]]
    canvas = view.canvas
    view.set_predictions([{"path": wrong_path, "predicted": others[0]},
                          {"path": data["paths"][1], "predicted": data["classes"][int(data["labels"][1])]}])
    assert view.wrong.sum() == 1 and view.wrong[0]
    view.set_flagged([data["keys"][3], "not/in/the/map.png"])
    assert view.flagged_mask().tolist() == [i == 3 for i in range(n)]
    assert "flagged by the audit" in [t.get_text() for t in canvas.ax.get_legend().get_texts()]
    assert "predicted: <b>" in view.tooltip_html(0) and "<img src=" in view.tooltip_html(0)
    canvas = view.canvas
    canvas.draw()
    # hovering a point shows its thumbnail and what the run predicted
    px0 = canvas.ax.transData.transform(np.asarray(data["xy"], dtype=float))
    MouseEvent("motion_notify_event", canvas, px0[0, 0], px0[0, 1])._process()
    assert QToolTip.isVisible() and "<img src=" in QToolTip.text() and Path(data["paths"][0]).name in QToolTip.text()
    # a real click on a point opens that sample
    opened = []
    monkeypatch.setattr(em_widget.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    px = canvas.ax.transData.transform(np.asarray(data["xy"], dtype=float))
    target = 5
    with qtbot.waitSignal(view.sampleOpened) as clicked:
        MouseEvent("button_press_event", canvas, px[target, 0], px[target, 1], button=1)._process()
    hit = data["keys"].index(clicked.args[0])
    assert np.hypot(*(px[hit] - px[target])) <= em_widget.HOVER_PIXELS * canvas.device_pixel_ratio
    assert opened == [data["paths"][hit]]
    # a lasso drawn with the mouse selects exactly the points inside the loop (checked in pixels)
    view.lasso_button.setChecked(True)
    assert view.lasso is not None
    lo, hi = px.min(0), px.max(0)
    mid = (lo + hi) / 2
    loop = [(lo[0] - 2, lo[1] - 2), (mid[0], lo[1] - 2), (mid[0], mid[1]), (lo[0] - 2, mid[1]), (lo[0] - 2, lo[1])]
    MouseEvent("button_press_event", canvas, *loop[0], button=1)._process()
    for x, y in loop[1:]:
        MouseEvent("motion_notify_event", canvas, x, y, button=1)._process()
    MouseEvent("button_release_event", canvas, *loop[-1], button=1)._process()
    chosen = view.selected.copy()
    inside = (px[:, 0] < mid[0] - 1) & (px[:, 1] < mid[1] - 1)
    border = (np.abs(px[:, 0] - mid[0]) <= 1) | (np.abs(px[:, 1] - mid[1]) <= 1)
    assert chosen.sum() > 0 and (chosen[~border] == inside[~border]).all()
    assert view.lasso_button.isChecked()
    assert view.exclude_button.isEnabled() and str(int(chosen.sum())) in view.exclude_button.text()
    _shot(view, "embedding_map_selected.png")
    before = list(state.project.data.exclusions)
    with qtbot.waitSignal(state.changed) as changed:
        qtbot.mouseClick(view.exclude_button, Qt.MouseButton.LeftButton)
    assert changed.args == ["curation"] and state.dirty
    added = [k for k in state.project.data.exclusions if k not in before]
    assert sorted(added) == sorted(k for k, on in zip(data["keys"], chosen) if on)
    assert all("/" in k and not k.startswith("/") for k in added)        # sample keys, relative to the root
    assert not view.exclude_button.isEnabled()
    # excluded points are drawn grey and cannot be selected again
    assert view.select_polygon([(-1e6, -1e6), (1e6, -1e6), (1e6, 1e6), (-1e6, 1e6)]) == n - len(added)
    _shot(view, "embedding_map_excluded.png")


def test_text_tooltip_shows_the_text(qtbot):
    view = EmbeddingMapView(ProjectState(Project(task="text")))
    qtbot.addWidget(view)
    view.show_map({"xy": np.zeros((1, 2), np.float32), "keys": ["a.csv:2"], "paths": ["a.csv:2"],
                   "texts": ["a <small> cat"], "labels": np.array([0]), "splits": ["train"], "classes": ["pets"],
                   "task": "text", "note": "", "seconds": 0.1, "total": 1})
    tip = view.tooltip_html(0)
    assert "a &lt;small&gt; cat" in tip and "<img" not in tip
    view.open_sample(0)
    assert "a &lt;small&gt; cat" in view.details.text()

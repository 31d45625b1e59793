"""Charts draw in a worker thread; the GUI thread only shows the finished image."""
from __future__ import annotations

import threading

import numpy as np
from matplotlib.figure import Figure

from tlstudio.gui.widgets.charts import ConfusionMatrixChart, CurveChart


def _record_draw_threads(monkeypatch) -> list[str]:
    threads: list[str] = []
    original = Figure.draw

    def draw(self, renderer):
        threads.append("gui" if threading.current_thread() is threading.main_thread() else "worker")
        return original(self, renderer)

    monkeypatch.setattr(Figure, "draw", draw)
    return threads


def _blue_pixels(image) -> int:
    """Cells of the 'Blues' colour map: clearly more blue than red."""
    count = 0
    for y in range(0, image.height(), 4):
        for x in range(0, image.width(), 4):
            c = image.pixelColor(x, y)
            count += c.blue() - c.red() > 60
    return count


def test_the_confusion_matrix_is_built_and_drawn_off_the_gui_thread(qtbot, monkeypatch):
    threads = _record_draw_threads(monkeypatch)
    chart = ConfusionMatrixChart()
    qtbot.addWidget(chart)
    chart.resize(500, 450)
    chart.show()
    qtbot.waitUntil(lambda: chart.renders >= 1 and not chart.busy(), timeout=30_000)
    empty = _blue_pixels(chart.image)
    matrix = np.array([[30, 2, 1], [3, 25, 4], [0, 5, 28]])
    chart.set_matrix(matrix, ["cat", "dog", "fox"])
    assert not chart.ax.images                 # nothing was built on the GUI thread
    qtbot.waitUntil(lambda: chart.renders >= 2 and not chart.busy(), timeout=30_000)
    assert threads and set(threads) == {"worker"}
    assert len(chart.ax.images) == 1 and len(chart.ax.texts) == 9
    assert _blue_pixels(chart.image) > empty + 50          # the matrix is in the shown image
    assert chart.image.width() >= 400


def test_curve_changes_made_while_a_render_is_in_flight_wait_for_it(qtbot, monkeypatch):
    threads = _record_draw_threads(monkeypatch)
    release = threading.Event()
    recorded = Figure.draw

    def held_draw(self, renderer):          # the first render waits until the test lets it go
        release.wait(30)
        return recorded(self, renderer)

    monkeypatch.setattr(Figure, "draw", held_draw)
    chart = CurveChart("lossChart", "Loss", "loss")
    qtbot.addWidget(chart)
    chart.resize(400, 300)
    chart.show()
    chart.add_point(1, 2.0, 3.0)
    qtbot.waitUntil(chart.in_flight, timeout=5000)
    chart.add_point(2, 1.0, 2.5)              # arrives during the render: the figure is left alone
    assert chart.series()["x"] == [1.0, 2.0]
    assert list(chart.train_line.get_xdata()) == [1.0]
    release.set()
    qtbot.waitUntil(lambda: chart.renders >= 2 and not chart.busy(), timeout=30_000)
    assert list(chart.train_line.get_xdata()) == [1.0, 2.0]      # applied after it, then drawn once more
    assert set(threads) == {"worker"}

"""A matplotlib canvas whose drawing happens in a worker thread; the GUI thread shows the image.

``ThreadedChartCanvas.draw_idle()`` (and a resize, or a show after changes made
while hidden) asks for a render: ``gui/jobs/render_jobs.render_figure`` draws
the figure in a worker and the widget paints the finished image, so no draw
ever blocks the event loop. Renders are coalesced: at most one is in flight;
changes asked for meanwhile lead to exactly one more render afterwards.

While a render is in flight the figure belongs to the worker. Subclasses change
their artists only through ``mutate(fn)`` (run now when idle, else queued until
the render ends) or, for heavy building, through ``set_prepare(fn)``: ``fn``
runs in the worker just before the draw. A direct ``draw()`` (tests, saving)
stays synchronous: it waits for a render in flight and applies what is pending.
"""
from __future__ import annotations

from typing import Callable

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from tlstudio.gui.jobs.render_jobs import RenderedFigure, render_figure
from tlstudio.gui.jobs.tasks import run_task


class ThreadedChartCanvas(FigureCanvasQTAgg):
    def __init__(self, object_name: str, parent=None, figsize=(5.0, 3.0), layout: str | None = "constrained"):
        super().__init__(Figure(figsize=figsize, dpi=100, layout=layout))
        self.setParent(parent)
        self.setObjectName(object_name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 160)
        self.image: QImage | None = None          # the last finished render
        self.renders = 0                          # finished renders (tests, benchmarks)
        self._task = None
        self._wanted = False                      # a render was asked for (since the last one started)
        self._queued: list[Callable[[], None]] = []
        self._prepare: Callable[[], None] | None = None
        self._kick = QTimer(self, singleShot=True, interval=0)   # coalesces requests within one loop turn
        self._kick.timeout.connect(self._start_render)

    # -- changing the figure ------------------------------------------------------------
    def in_flight(self) -> bool:
        """A worker is drawing the figure now (changes wait for it)."""
        return self._task is not None

    def busy(self) -> bool:
        """A render is in flight, or asked for while visible (tests and benchmarks wait on this)."""
        return self._task is not None or (self._wanted and self.isVisible())

    def mutate(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (which changes artists) now, or after the render in flight."""
        if self._task is None:
            fn()
        else:
            self._queued.append(fn)

    def set_prepare(self, fn: Callable[[], None] | None) -> None:
        """Heavy building for the next render, run in its worker (replaces one not yet run)."""
        self._prepare = fn

    # -- rendering ----------------------------------------------------------------------
    def draw_idle(self) -> None:
        self._wanted = True
        if self.isVisible():
            self._kick.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._wanted or self.image is None:
            self.draw_idle()

    def resizeEvent(self, event) -> None:
        if self._task is None:
            super().resizeEvent(event)   # sets the figure size, then asks draw_idle for a render
            return
        # The worker is drawing this figure: the new size applies once it is done.
        QWidget.resizeEvent(self, event)
        ratio = self.device_pixel_ratio or 1
        width, height = event.size().width() * ratio, event.size().height() * ratio
        self._queued.append(lambda: self.figure.set_size_inches(width / self.figure.dpi, height / self.figure.dpi,
                                                                forward=False))
        self.draw_idle()

    def _start_render(self) -> None:
        if self._task is not None or not self._wanted or not self.isVisible():
            return
        self._wanted = False
        prepare, self._prepare = self._prepare, None
        self._task = run_task(render_figure, self.figure, prepare, on_finished=self._on_rendered,
                              on_failed=self._on_render_failed)

    def _on_rendered(self, rendered: RenderedFigure) -> None:
        self._task = None
        image = QImage(rendered.rgba, rendered.width, rendered.height, QImage.Format.Format_RGBA8888)
        self.image = image.copy()                 # own the pixels (the bytes object goes away)
        self.image.setDevicePixelRatio(self.device_pixel_ratio or 1)
        self.renders += 1
        self._after_render()
        self.update()

    def _on_render_failed(self, _message: str) -> None:
        self._task = None
        self._after_render()

    def _after_render(self) -> None:
        queued, self._queued = self._queued, []
        for fn in queued:
            fn()
        if self._wanted:
            self.draw_idle()

    def draw(self) -> None:
        """A synchronous draw on this thread (tests, saving): waits for a render in flight."""
        if self._task is not None:
            self._task.wait()
        queued, self._queued = self._queued, []
        for fn in queued:
            fn()
        prepare, self._prepare = self._prepare, None
        if prepare is not None:
            prepare()
        super().draw()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if self.image is not None:      # until the next render a resized chart shows this one scaled
            painter.drawImage(self.rect(), self.image)
        painter.end()

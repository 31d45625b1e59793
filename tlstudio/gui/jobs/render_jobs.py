"""Worker jobs that draw matplotlib figures into images, so the GUI thread only shows them.

Drawing a figure (text layout, ticks, dozens of labels) costs tens of
milliseconds, hundreds on a loaded machine; on the GUI thread that is a frozen
window. ``render_figure`` runs in a worker (``tasks.run_task``): it applies the
chart's pending ``prepare`` step (building artists) and draws the figure into a
fresh Agg renderer owned by this job alone, returning the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RenderedFigure:
    rgba: bytes          # width * height * 4 bytes, rows top to bottom
    width: int
    height: int


def render_figure(figure, prepare: Callable[[], None] | None = None) -> RenderedFigure:
    """Worker job: run ``prepare()`` (it may build the figure's artists), then draw ``figure``.

    The caller must not touch ``figure`` until this returns (``ThreadedChartCanvas`` holds its
    changes back while a render is in flight).
    """
    from matplotlib.backends.backend_agg import RendererAgg

    if prepare is not None:
        prepare()
    width, height = (max(1, int(round(v))) for v in figure.bbox.size)
    renderer = RendererAgg(width, height, figure.dpi)
    figure.draw(renderer)
    return RenderedFigure(bytes(renderer.buffer_rgba()), width, height)

"""Embedded matplotlib charts: live training curves and the confusion matrix.

The curves and the confusion matrix draw in a worker thread
(``figure_image.ThreadedChartCanvas``): the GUI thread only changes a few
artists (through ``mutate``) and paints the finished image. They redraw only
when data changes per epoch, never per batch. The confusion matrix builds its
artists (dozens of labels) in the worker as well.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy

from tlstudio.gui.widgets.chart_fonts import label_families
from tlstudio.gui.widgets.figure_image import ThreadedChartCanvas
from tlstudio.gui.widgets.search_charts import SearchChartPainter

STAGGER_MS = 40
EMPTY_HINT = "Curves appear here once training starts (Train tab → Start)."
# While a run prepares (the model loads, the base's features are computed) nothing can be drawn yet.
RUNNING_HINT = "Computing the base's features… the curves follow."
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d62728"


class ChartCanvas(FigureCanvasQTAgg):
    def __init__(self, object_name: str, parent=None, figsize=(5.0, 3.0), layout: str | None = "constrained"):
        figure = Figure(figsize=figsize, dpi=100, layout=layout)
        super().__init__(figure)
        self.setParent(parent)
        self.setObjectName(object_name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 160)
        self._stale = False

    def draw_idle(self) -> None:
        # A hidden chart (another tab) is drawn when it is shown, not while training runs.
        if not self.isVisible():
            self._stale = True
            return
        super().draw_idle()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            super().draw_idle()


class CurveChart(ThreadedChartCanvas):
    """One metric per epoch, train vs validation, with a line where fine-tuning starts.

    The plotted data lives in plain lists (``series()``); every artist change goes through
    ``mutate``, so nothing touches the figure while a worker draws it.
    """

    # Margins in pixels, applied on resize: a layout engine would cost ~2x per draw.
    MARGINS_PX = {"left": 58, "right": 14, "top": 28, "bottom": 40}

    def __init__(self, object_name: str, title: str, ylabel: str, parent=None, hint: str = EMPTY_HINT):
        super().__init__(object_name, parent, layout=None)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self._title, self._ylabel = title, ylabel
        (self.train_line,) = self.ax.plot([], [], "o-", color=TRAIN_COLOR, label="train", markersize=3)
        (self.val_line,) = self.ax.plot([], [], "o-", color=VAL_COLOR, label="validation", markersize=3)
        self._points: dict[str, list[float]] = {"x": [], "train": [], "val": []}
        self.search_series: dict | None = None      # what search_charts drew (a head-search run)
        self.boundaries: list[float] = []
        self._boundary_artists = []
        self.planned_epochs = 1
        self._style()
        # Few ticks: tick labels are most of a draw's cost.
        self.ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        self.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        # With no data the axes would run from -0.05 to 0.05: say what will appear instead.
        self.hint = self.ax.text(0.5, 0.5, hint, ha="center", va="center", transform=self.ax.transAxes,
                                 color="#777777", fontsize=9, wrap=True)
        self.show_epochs(1)
        self.set_empty(True)

    def is_empty(self) -> bool:
        return not self._points["x"] and not (self.search_series and self.search_series["val"])

    def set_hint(self, text: str) -> None:
        """What an empty chart says (before a run, or while one prepares)."""
        self.mutate(lambda: self.hint.set_text(text))
        if self.is_empty():
            self.draw_idle()

    def set_empty(self, empty: bool) -> None:
        def change():
            self.hint.set_visible(empty)
            self.ax.tick_params(labelleft=not empty, labelbottom=not empty)
            if empty:
                self.ax.set_ylim(0.0, 1.0)
            else:
                self.ax.set_autoscaley_on(True)     # set_ylim above turned it off
        self.mutate(change)

    def resizeEvent(self, event) -> None:
        width, height = max(1, event.size().width()), max(1, event.size().height())
        m = self.MARGINS_PX
        self.mutate(lambda: self.figure.subplots_adjust(
            left=min(0.4, m["left"] / width), right=max(0.6, 1 - m["right"] / width),
            top=max(0.6, 1 - m["top"] / height), bottom=min(0.4, m["bottom"] / height)))
        super().resizeEvent(event)

    def show_epochs(self, n: int) -> None:
        """Frame the x axis on the epochs the run plans, so curves grow left to right (drawn later)."""
        self.planned_epochs = max(1, int(n))
        planned = self.planned_epochs
        self.mutate(lambda: self.ax.set_xlim(0.5, planned + 0.5))

    def _style(self) -> None:
        self.ax.set_title(self._title, fontsize=10, loc="left")
        self.ax.set_xlabel("epoch", fontsize=9)
        self.ax.set_ylabel(self._ylabel, fontsize=9)
        self.ax.tick_params(labelsize=8)
        self.ax.grid(True, alpha=0.3)
        self._epoch_legend()

    def _epoch_legend(self) -> None:
        self.train_line.set_label("train")
        self.val_line.set_label("validation")
        self.train_line.set_visible(True)
        self.val_line.set_linewidth(1.5)
        self.val_line.set_markersize(3)
        self.train_line.set_markersize(3)
        # Above the plot, beside the title: never over the curves or the fine-tune marker
        # (and a fixed place: loc="best" costs a search on every draw).
        self.ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False,
                       borderaxespad=0.0, handlelength=1.5, columnspacing=1.0)

    def _sync_lines(self) -> None:
        xs, train, val = (list(self._points[k]) for k in ("x", "train", "val"))

        def change():
            self.train_line.set_data(xs, train)
            self.val_line.set_data(xs, val)
            self.ax.relim()
            self.ax.autoscale_view(scalex=False)
        self.mutate(change)

    def clear(self) -> None:
        for values in self._points.values():
            values.clear()
        self.boundaries.clear()
        artists, self._boundary_artists = self._boundary_artists, []
        self.mutate(lambda: [artist.remove() for artist in artists])
        if self.search_series is not None:
            self.search_series = None
            self.mutate(self._epoch_legend)
        self._sync_lines()
        self.show_epochs(1)
        self.set_empty(True)

    def add_point(self, x: float, train: float, val: float, redraw: bool = True) -> None:
        was_empty = self.is_empty()
        self._points["x"].append(float(x))
        for key, y in (("train", train), ("val", val)):
            self._points[key].append(float(y) if y is not None and np.isfinite(y) else np.nan)
        if was_empty:
            self.set_empty(False)
        self._sync_lines()
        self.show_epochs(max(self.planned_epochs, int(x)))
        if redraw:
            self.draw_idle()

    def set_ylim(self, low: float, high: float) -> None:
        self.mutate(lambda: self.ax.set_ylim(low, high))

    def mark_boundary(self, x: float, label: str = "fine-tune") -> None:
        self.boundaries.append(x)

        def change():
            line = self.ax.axvline(x, color="#555555", linestyle="--", linewidth=1)
            text = self.ax.annotate(label, xy=(x, 1.0), xycoords=("data", "axes fraction"),
                                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="#555555")
            self._boundary_artists.extend([line, text])
        self.mutate(change)

    def series(self) -> dict[str, list[float]]:
        """Plotted data, for tests and for saving: the epoch loop's points, or a search's leader
        ("val") and refit ("train") curves with x = 1, 2, ..."""
        if self.search_series is not None and not self._points["x"]:
            val, train = self.search_series["val"], self.search_series["train"]
            return {"x": [float(i + 1) for i in range(max(len(val), len(train)))],
                    "val": [float(v) for v in val], "train": [float(v) for v in train]}
        return {key: [float(v) for v in values] for key, values in self._points.items()}


class TrainingCharts:
    """The loss and accuracy charts fed from EpochEnded/StageStarted events."""

    def __init__(self, parent=None):
        self.loss = CurveChart("lossChart", "Loss", "loss", parent)
        self.accuracy = CurveChart("accuracyChart", "Accuracy", "accuracy", parent)
        self.accuracy.set_ylim(0.0, 1.0)
        self.epochs_plotted = 0
        self.search = SearchChartPainter(self, self.loss)

    def set_hint(self, text: str) -> None:
        for chart in (self.loss, self.accuracy):
            chart.set_hint(text)

    def reset(self) -> None:
        """Empty both charts (redrawn only when they showed an earlier run)."""
        had_data = self.epochs_plotted > 0 or bool(self.loss.boundaries) or self.search.curves is not None
        self.search.clear()
        self.epochs_plotted = 0
        self.loss.clear()
        self.accuracy.clear()
        self.accuracy.set_ylim(0.0, 1.0)
        if had_data:
            self.loss.draw_idle()
            QTimer.singleShot(STAGGER_MS, self.accuracy.draw_idle)

    def stage_started(self, stage: int, epochs: int) -> None:
        planned = self.epochs_plotted + max(1, int(epochs))
        self.loss.show_epochs(planned)
        self.accuracy.show_epochs(planned)
        if stage > 1 and self.epochs_plotted > 0:
            x = self.epochs_plotted + 0.5
            self.loss.mark_boundary(x)
            self.accuracy.mark_boundary(x)

    def epoch_ended(self, event) -> None:
        self.epochs_plotted += 1
        x = self.epochs_plotted
        self.loss.add_point(x, event.train_loss, event.val_loss)
        self.accuracy.add_point(x, event.train_acc, event.val_acc, redraw=False)
        # Accuracy is a fraction: keep the 0..1 frame steady instead of autoscaling.
        self.accuracy.set_ylim(0.0, 1.02)
        # Draw the second chart a little later so the event loop breathes between the two draws.
        QTimer.singleShot(STAGGER_MS, self.accuracy.draw_idle)

    def show_run(self, run_dir) -> bool:
        """Draw a finished run's curves from its folder (epoch history, else the head search's); False
        when it saved none."""
        from tlstudio.core.headsearch.curves import SearchCurves
        from tlstudio.core.runs.run_folder import read_run_curves

        saved = read_run_curves(run_dir)
        if saved is None:
            return False
        if isinstance(saved, SearchCurves):
            self.reset()
            self.search.show(saved, now=True)
        else:
            self.show_history(saved)
        return True

    def show_history(self, history: list[dict]) -> None:
        """A finished run's epochs (history.json: EpochEnded records), as they were drawn live."""
        self.reset()
        stage = None
        for entry in history:
            if entry.get("stage") != stage:
                stage = entry.get("stage")
                self.stage_started(int(stage or 1), sum(1 for h in history if h.get("stage") == stage))
            self.epoch_ended(SimpleNamespace(**entry))


class MatrixTitles(NamedTuple):
    title: str
    rows: str
    columns: str


CONFUSION_TITLES = MatrixTitles("Confusion matrix (click a cell)", "true", "predicted")


class ConfusionMatrixChart(ThreadedChartCanvas):
    """Annotated confusion matrix; a click on a cell emits (true index, predicted index).

    Building the plot (an image plus a label per cell, ~100 ms) and drawing it happen in a
    worker (``set_prepare``), so a finished run's results never freeze the window.
    """

    cellClicked = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__("confusionMatrixChart", parent, figsize=(5.0, 4.5))
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.matrix: np.ndarray | None = None
        self.classes: list[str] = []
        self.pending_text = ""          # painted instead of the last image while a new one is drawn
        self.mpl_connect("button_press_event", self._on_click)
        self._show_empty()

    def _show_empty(self, text: str = "No run loaded") -> None:
        self.set_prepare(lambda: build_empty(self.ax, text))
        self.draw_idle()

    def clear(self) -> None:
        self.matrix = None
        self.classes = []
        self.pending_text = ""
        self._show_empty()

    def show_message(self, text: str) -> None:
        """A line instead of a matrix (a run is loading)."""
        self.matrix, self.classes = None, []
        self.pending_text = text
        self._show_empty(text)

    def set_matrix(self, matrix, classes: list[str], titles: MatrixTitles | None = None) -> None:
        """Show a matrix: built and drawn in a worker once the chart is visible. ``titles`` names what
        the rows, columns and cells are (default: a confusion matrix)."""
        self.matrix, self.classes = np.asarray(matrix, dtype=np.int64), list(classes)
        m, names, titles = self.matrix.copy(), list(self.classes), titles or CONFUSION_TITLES
        self.pending_text = f"Drawing the {titles.title.split(' (')[0].lower()}…"   # until the image arrives
        self.update()
        self.set_prepare(lambda: build_confusion(self.ax, m, names, titles))
        self.draw_idle()

    def _on_rendered(self, rendered) -> None:
        if self.matrix is not None or not self._wanted:
            self.pending_text = ""
        super()._on_rendered(rendered)

    def paintEvent(self, event) -> None:
        if not self.pending_text:
            super().paintEvent(event)
            return
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        painter.setPen(QColor("#777777"))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.pending_text)
        painter.end()

    def cell_at(self, xdata: float | None, ydata: float | None) -> tuple[int, int] | None:
        """Map a data coordinate to (true row, predicted column), or None outside the matrix."""
        if self.matrix is None or xdata is None or ydata is None:
            return None
        col, row = int(round(xdata)), int(round(ydata))
        n = self.matrix.shape[0]
        if 0 <= row < n and 0 <= col < n:
            return row, col
        return None

    def _on_click(self, event) -> None:
        if event.inaxes is not self.ax:
            return
        cell = self.cell_at(event.xdata, event.ydata)
        if cell is not None:
            self.cellClicked.emit(*cell)


def build_empty(ax, text: str = "No run loaded") -> None:
    ax.clear()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")


def build_confusion(ax, m: np.ndarray, classes: list[str], titles: MatrixTitles | None = None) -> None:
    """The confusion-matrix plot on ``ax`` (runs in the render worker)."""
    titles = titles or CONFUSION_TITLES
    ax.clear()
    ax.set_axis_on()
    ax.imshow(m, cmap="Blues", interpolation="nearest", vmin=0)
    n = len(classes)
    ticks = range(n)
    rotate = n > 4 or max((len(c) for c in classes), default=0) > 6
    family = {"fontfamily": families} if (families := label_families(classes)) else {}
    ax.set_xticks(ticks, labels=classes, fontsize=8, rotation=45 if rotate else 0,
                  ha="right" if rotate else "center", **family)
    ax.set_yticks(ticks, labels=classes, fontsize=8, **family)
    ax.set_xlabel(titles.columns, fontsize=9)
    ax.set_ylabel(titles.rows, fontsize=9)
    ax.set_title(titles.title, fontsize=10)
    threshold = m.max() / 2.0 if m.size else 0
    font = 8 if n <= 10 else 6
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=font,
                    color="white" if m[i, j] > threshold else "black")

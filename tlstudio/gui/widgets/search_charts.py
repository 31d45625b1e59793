"""The head search on the Train tab's two charts.

During the search every candidate's held-out loss and accuracy per epoch is drawn faintly and
the current leader bold; once the search reported, the winner's curve is bold with a legend that
says what it is ("5-fold CV, hidden 128, lr 2e-3") and the loss chart adds the refit's training
loss. The data comes from a ``core.headsearch.curves.SearchCurves`` (live events, or the run
folder's saved file). Redraws are throttled (``REDRAW_MS``): a search sends hundreds of epoch
events a second, the charts render a few times a second, in their worker (``figure_image``).
"""
from __future__ import annotations

import math

from matplotlib.lines import Line2D
from PySide6.QtCore import QObject, QTimer

from tlstudio.core.headsearch.curves import SearchCurves

REDRAW_MS = 1000
FAINT = {"color": "#8c8c8c", "linewidth": 0.8, "alpha": 0.45}
LEADER_COLOR = "#d62728"
REFIT_COLOR = "#1f77b4"


def _values(values: list) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


class SearchChartPainter(QObject):
    """Draws ``curves`` on ``charts`` (a ``TrainingCharts``); call ``changed()`` after feeding it."""

    def __init__(self, charts, parent=None):
        super().__init__(parent)
        self.charts = charts
        self.curves: SearchCurves | None = None
        self._faint: dict[int, list] = {}          # chart index -> candidate lines
        self._drawn: dict[int, dict] = {}          # chart index -> what its artists show (skip unchanged)
        self._timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._timer.timeout.connect(self.redraw)

    def show(self, curves: SearchCurves, now: bool = False) -> None:
        self.curves = curves
        self.changed(now)

    def changed(self, now: bool = False) -> None:
        if now:
            self._timer.stop()
            self.redraw()
        elif not self._timer.isActive():
            self._timer.start()

    def clear(self) -> None:
        self._timer.stop()
        self.curves = None
        self._drawn.clear()
        for chart, lines in zip(self._chart_list(), (self._faint.pop(0, []), self._faint.pop(1, []))):
            chart.mutate(lambda lines=lines: [line.remove() for line in lines])

    def _chart_list(self) -> list:
        return [self.charts.loss, self.charts.accuracy]

    def redraw(self) -> None:
        curves = self.curves
        if curves is None or curves.is_empty():
            return
        leader = curves.leader()
        final = curves.winner is not None
        for index, (chart, key) in enumerate(zip(self._chart_list(), ("val_loss", "val_acc"))):
            series = [_values(c[key]) for c in curves.candidates]
            best = series[leader] if leader is not None else []
            refit = _values(curves.refit_loss) if key == "val_loss" and final else []
            longest = max((len(s) for s in series), default=1)
            label = curves.legend(leader) + (" (held-out)" if final else " (leading)")
            was_empty = chart.is_empty()
            self._sync(index, chart, series, leader, best, refit, label, final)
            chart.search_series = {"leader": leader, "val": best, "train": refit,
                                   "candidates": [list(s) for s in series]}
            if max(longest, len(refit)) != chart.planned_epochs:
                chart.show_epochs(max(longest, len(refit)))
            if was_empty:
                chart.set_empty(False)
                if index == 1:
                    chart.set_ylim(0.0, 1.02)
        self.charts.loss.draw_idle()
        QTimer.singleShot(40, self.charts.accuracy.draw_idle)

    def _sync(self, index, chart, series, leader, best, refit, label, final) -> None:
        """Change only what changed: lines whose data grew, the legend when its entries differ (building
        a legend is most of the GUI thread's cost here); y limits computed, not searched by relim."""
        lines = self._faint.setdefault(index, [])
        drawn = self._drawn.setdefault(index, {"lengths": [], "legend": None, "leader": None})
        lengths = [len(v) for v in series]
        grown = [i for i, n in enumerate(lengths) if i >= len(drawn["lengths"]) or drawn["lengths"][i] != n]
        legend_key = (label, len(refit), len(series))
        new_legend = legend_key != drawn["legend"]
        leader_moved = leader != drawn["leader"]
        drawn.update(lengths=lengths, legend=legend_key, leader=leader)
        finite = [v for values in series + [refit] for v in values if v == v]
        limits = (min(finite), max(finite)) if finite and index == 0 else None

        def change():
            ax = chart.ax
            while len(lines) < len(series):
                (line,) = ax.plot([], [], "-", **FAINT)
                lines.append(line)
            for i in grown:
                lines[i].set_data(range(1, len(series[i]) + 1), series[i])
            if leader_moved:
                for i, line in enumerate(lines):
                    line.set_visible(i != leader)
            chart.val_line.set_data(range(1, len(best) + 1), best)
            chart.train_line.set_data(range(1, len(refit) + 1), refit)
            chart.train_line.set_visible(bool(refit))
            if new_legend:
                chart.val_line.set_label(label)
                chart.val_line.set_linewidth(2.2)
                chart.val_line.set_markersize(0)
                chart.train_line.set_markersize(0)
                chart.train_line.set_label(f"refit on all samples, {len(refit)} epochs (training loss)")
                handles = [chart.val_line] + ([chart.train_line] if refit else [])
                if len(series) > 1:
                    handles.append(Line2D([], [], **FAINT, label=f"other candidates ({len(series) - 1})"))
                ax.legend(handles=handles, fontsize=7, loc="upper right" if index == 0 else "lower right",
                          framealpha=0.85)
            if limits is not None:
                low, high = limits
                pad = max(1e-3, (high - low) * 0.05)
                ax.set_ylim(max(0.0, low - pad), high + pad)
        chart.mutate(change)

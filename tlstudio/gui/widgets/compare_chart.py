"""Accuracy against latency for a model comparison, the Pareto front marked.

Each measured candidate is a point (x: batch-1 latency in ms, log scale when
the latencies span more than a factor of 3; y: held-out accuracy) labelled with
its name. The Pareto front (no other model both more accurate and faster) is
drawn as filled red points joined by a step line; the others are hollow grey.
The selected model gets a ring. The artists are rebuilt in the render worker
(``set_prepare``), so the GUI thread only hands over the rows.
"""
from __future__ import annotations

from tlstudio.gui.widgets.figure_image import ThreadedChartCanvas

FRONT_COLOR = "#d62728"
OTHER_COLOR = "#7f7f7f"
LOG_ABOVE = 10          # a log latency axis when the slowest model is this many times the fastest
EMPTY_TEXT = "Press Compare: each model's accuracy against its latency appears here."


class ParetoChart(ThreadedChartCanvas):
    def __init__(self, parent=None):
        super().__init__("compareChart", parent, figsize=(5.0, 3.6))
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.rows: list[dict] = []
        self.selected: tuple[str, str] | None = None
        self.set_prepare(self._build)

    def show_rows(self, rows: list[dict], selected: tuple[str, str] | None = None) -> None:
        """Plot the leaderboard rows (``CandidateResult.to_dict()``); ``selected`` is (model, weights)."""
        self.rows = [dict(r) for r in rows]
        self.selected = selected
        self.set_prepare(self._build)
        self.draw_idle()

    def select(self, selected: tuple[str, str] | None) -> None:
        if selected != self.selected:
            self.show_rows(self.rows, selected)

    def plotted(self) -> list[dict]:
        return [r for r in self.rows if r.get("error") is None and r.get("accuracy") is not None
                and r.get("latency_ms") is not None]

    def _build(self) -> None:
        ax, rows = self.ax, self.plotted()
        ax.clear()
        ax.set_title("Accuracy vs latency (top left is best)", fontsize=10, loc="left")
        ax.set_xlabel("latency, one input (ms)", fontsize=9)
        ax.set_ylabel("held-out accuracy", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        if not rows:
            ax.text(0.5, 0.5, EMPTY_TEXT, ha="center", va="center", transform=ax.transAxes, color="#777777",
                    fontsize=9, wrap=True)
            ax.tick_params(labelleft=False, labelbottom=False)
            return
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.tick_params(labelleft=True, labelbottom=True)     # an empty chart hid them
        xs = [r["latency_ms"] for r in rows]
        if max(xs) > LOG_ABOVE * min(xs):
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
        front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["latency_ms"])
        others = [r for r in rows if not r.get("pareto")]
        if others:
            ax.scatter([r["latency_ms"] for r in others], [r["accuracy"] for r in others], s=40,
                       facecolors="none", edgecolors=OTHER_COLOR, label="dominated", zorder=3)
        if front:
            ax.step([r["latency_ms"] for r in front], [r["accuracy"] for r in front], where="post",
                    color=FRONT_COLOR, linewidth=1.2, alpha=0.7, zorder=2)
            ax.scatter([r["latency_ms"] for r in front], [r["accuracy"] for r in front], s=46, color=FRONT_COLOR,
                       label="Pareto front", zorder=4)
        # Labels alternate above and below along the latency axis, so neighbours do not print over each other.
        for i, r in enumerate(sorted(rows, key=lambda r: (r["latency_ms"], -r["accuracy"]))):
            chosen = self.selected is not None and (r["model"], r["weights"]) == tuple(self.selected)
            if chosen:
                ax.scatter([r["latency_ms"]], [r["accuracy"]], s=190, facecolors="none", edgecolors="#1f77b4",
                           linewidths=2, zorder=5)
            ax.annotate(r["model"], (r["latency_ms"], r["accuracy"]), textcoords="offset points",
                        xytext=(6, 6 if i % 2 == 0 else -12),
                        fontsize=8, fontweight="bold" if chosen else "normal")
        low, high = min(r["accuracy"] for r in rows), max(r["accuracy"] for r in rows)
        pad = max(0.02, (high - low) * 0.25)
        ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad) + 0.01)
        left, right = min(xs), max(xs)
        if ax.get_xscale() == "log":
            ax.set_xlim(left / 1.3, right * 1.6)
        else:
            span = max(right - left, 0.2 * right, 1e-3)
            ax.set_xlim(max(0.0, left - 0.25 * span), right + 0.5 * span)
        ax.legend(fontsize=8, loc="lower right")

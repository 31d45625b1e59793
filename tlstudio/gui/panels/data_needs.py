"""The "How much more data" view of the Results tab: learning curves, their fits and plain sentences.

The features are collected (through the feature cache) and the curves fitted
in a worker (``tasks.run_task``); only the small chart is drawn on the GUI
thread, once, when the result arrives. The x axis is the share of today's
labelled data, so the fitted curves run on to 200 % ("twice as many").
"""
from __future__ import annotations

import html

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from tlstudio.gui.widgets.embedding_map import CLASS_COLORS
from tlstudio.gui.widgets.project_job_view import ProjectJobView

MAX_CLASS_LINES = 10              # more classes: only the overall curve is drawn (the sentences name them all)
EXTRAPOLATE_TO = 2.0              # the fitted curves run on to twice today's data


def curves_job(project_dict: dict, job=None):
    """Worker job: the learning curves of a snapshot of the project (train + validation samples)."""
    from tlstudio.core.insight.curves import dataset_curves
    from tlstudio.core.insight.features import collect_features
    from tlstudio.core.project import Project

    project = Project.from_dict(project_dict)
    data = collect_features(project, job=job)
    return dataset_curves(data, seed=project.data.seed, job=job)


class CurvesChart(FigureCanvasQTAgg):
    """Accuracy and per-class recall against the share of today's data, measured and fitted."""

    def __init__(self, parent=None):
        super().__init__(Figure(figsize=(5.0, 3.2), dpi=100, layout="constrained"))
        self.setParent(parent)
        self.setObjectName("curvesChart")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 120)   # the Results tab must fit 1024×700 with the matrix above
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.lines: dict[str, object] = {}
        self.clear()

    def clear(self) -> None:
        self.ax.clear()
        self.lines = {}
        self.ax.text(0.5, 0.5, "Press “Compute” to see how accuracy grows with data.", ha="center", va="center",
                     transform=self.ax.transAxes, color="#777777", fontsize=9)
        self.ax.set_axis_off()
        self.draw_idle()

    def set_curves(self, curves) -> None:
        ax = self.ax
        ax.clear()
        ax.set_axis_on()
        self.lines = {}
        share = np.asarray(curves.fractions, dtype=float) * 100
        ahead = np.linspace(share[0], EXTRAPOLATE_TO * 100, 60) / 100
        series = [("overall", curves.accuracy_mean, curves.overall, curves.n_train[-1], "#000000", 2.2)]
        if len(curves.classes) <= MAX_CLASS_LINES:
            series += [(name, curves.recall_mean[:, i], curves.per_class[i], curves.n_class[-1, i],
                        CLASS_COLORS[i % len(CLASS_COLORS)], 1.2) for i, name in enumerate(curves.classes)]
        for name, values, law, n_last, color, width in series:
            label = "accuracy" if name == "overall" else name
            (line,) = ax.plot(share, np.asarray(values) * 100, "o-", color=color, lw=width, ms=3, label=label)
            self.lines[name] = line
            if law is not None and law.trusted:
                ax.plot(ahead * 100, np.asarray(law(ahead * n_last)) * 100, "--", color=color, lw=width * 0.7,
                        alpha=0.8)
        ax.axvline(100, color="#999999", lw=0.8, ls=":")
        ax.text(101, ax.get_ylim()[0], " today", color="#777777", fontsize=7, va="bottom")
        ax.set_xlim(0, EXTRAPOLATE_TO * 100 + 5)
        ax.set_xlabel("share of today's labelled data (%)  ·  dashed: fitted, extrapolated", fontsize=8)
        ax.set_ylabel("accuracy / recall (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", ncol=2 if len(series) > 5 else 1)
        self.draw_idle()


class DataNeedsView(ProjectJobView):
    """Compute button, curves chart and the sentences."""

    computed = Signal(object)          # the LearningCurves shown
    failed = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("dataNeedsView")
        self.state = state
        self.curves = None
        self.make_controls("Compute learning curves", "computeCurvesButton", 180,
                           "Heads fitted on 10–100 % of the labelled data (out-of-fold) show whether more "
                           "data would help, and for which class.")
        self.status.setObjectName("curvesStatus")
        self.status.setWordWrap(True)
        self.chart = CurvesChart(self)
        self.sentences = QLabel("")
        self.sentences.setObjectName("curvesSentences")
        self.sentences.setWordWrap(True)
        self.sentences.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.compute_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress)
        row.addWidget(self.status, 1)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.chart, 3)
        col.addWidget(self.sentences, 1)

    job = staticmethod(curves_job)
    busy_text = "Collecting features and fitting heads on growing shares of the data…"
    fail_text = "Could not compute the curves: {message}"

    def show_result(self, result) -> None:
        self.show_curves(result)

    def clear_result(self) -> None:
        self.curves = None
        self.chart.clear()
        self.sentences.setText("")

    def show_curves(self, curves) -> None:
        self.curves = curves
        self.status.setText(f"{int(curves.counts.sum())} labelled {curves.noun} (test split left out), "
                            f"{curves.folds}-fold out-of-fold, {curves.accuracy.shape[1]} repeats, "
                            f"{curves.seconds:.1f} s.")
        self.chart.set_curves(curves)
        self.sentences.setText("".join(f"• {html.escape(t)}<br>" for t in curves.texts))
        self.computed.emit(curves)

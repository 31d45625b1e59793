"""The "Embedding map" view of the Results tab: every labelled sample as a point of a 2-D t-SNE map.

Computed in a worker (features through the feature cache, then PCA + t-SNE,
``core.insight.embedding``); the GUI thread only draws the scatter. Points are
coloured by class; samples the loaded run got wrong (its held-out or
validation predictions) carry a black ring, samples the data audit flagged
(``set_flagged``) an orange square. Hovering a point shows its
thumbnail (images) or text; a click opens it (the image in the system viewer;
a text below the map); with "Lasso" on, a drawn loop selects points and
"Exclude" adds their sample keys to the project's exclusions (the project is
marked modified; nothing on disk changes).
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.path import Path as PolygonPath
from matplotlib.widgets import LassoSelector
from PySide6.QtCore import QUrl, Signal, Slot
from PySide6.QtGui import QCursor, QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolTip, QVBoxLayout

from tlstudio.core.data.modality import modality_for
from tlstudio.gui.widgets.project_job_view import ProjectJobView

CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
HOVER_PIXELS = 8            # a point within this many pixels of the cursor is "under" it
THUMB_PX = 112
TEXT_TIP_CHARS = 300


def embedding_job(project_dict: dict, job=None) -> dict:
    """Worker job: the 2-D map of a snapshot of the project's labelled samples, as plain data."""
    from tlstudio.core.insight.embedding import embed
    from tlstudio.core.insight.features import collect_features
    from tlstudio.core.project import Project

    project = Project.from_dict(project_dict)
    data = collect_features(project, job=job)
    m = embed(data.features, data.labels, seed=project.data.seed, job=job)
    rows = m.index.tolist()
    return {"xy": m.xy, "keys": [data.keys[i] for i in rows], "paths": [data.samples[i].path for i in rows],
            "texts": [data.samples[i].text for i in rows], "labels": data.labels[m.index],
            "splits": [data.splits[i] for i in rows], "classes": list(data.classes), "task": data.task,
            "note": m.note, "seconds": m.seconds, "total": len(data)}


class MapCanvas(FigureCanvasQTAgg):
    def __init__(self, parent=None):
        super().__init__(Figure(figsize=(5.0, 4.0), dpi=100, layout="constrained"))
        self.setParent(parent)
        self.setObjectName("embeddingCanvas")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 140)   # the Results tab must fit 1024×700 with the matrix above
        self.ax = self.figure.add_subplot(1, 1, 1)


class EmbeddingMapView(ProjectJobView):
    computed = Signal(dict)
    failed = Signal(str)
    sampleOpened = Signal(str)          # the key of a clicked sample
    excludedChanged = Signal(int)       # how many samples an Exclude added

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("embeddingMapView")
        self.state = state
        self.data: dict | None = None
        self.wrong: np.ndarray = np.zeros(0, dtype=bool)
        self.selected: np.ndarray = np.zeros(0, dtype=bool)
        self._predictions: dict[str, str] = {}     # path -> predicted class name (the loaded run's)
        self._flagged: set[str] = set()             # sample keys the data audit flagged
        self._selection_artist = None
        self._excluded_artist = None
        self.make_controls("Compute map", "computeMapButton", 160,
                           "A 2-D map (t-SNE) of the model's features: samples of a class should gather; "
                           "a point among another class is worth a look.")
        self.lasso_button = QPushButton("Lasso")
        self.lasso_button.setObjectName("lassoButton")
        self.lasso_button.setCheckable(True)
        self.lasso_button.toggled.connect(self._set_lasso)
        self.exclude_button = QPushButton("Exclude selected")
        self.exclude_button.setObjectName("excludeSelectedButton")
        self.exclude_button.setEnabled(False)
        self.exclude_button.setMinimumWidth(self.exclude_button.fontMetrics().horizontalAdvance(
            "Exclude selected (0000)") + 24)
        self.exclude_button.clicked.connect(self.exclude_selected)
        self.status.setObjectName("mapStatus")
        self.status.setWordWrap(True)
        self.canvas = MapCanvas(self)
        self.details = QLabel("")
        self.details.setObjectName("mapDetails")
        self.details.setWordWrap(True)
        self.lasso: LassoSelector | None = None
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        row = QHBoxLayout()
        for w in (self.compute_button, self.cancel_button, self.progress, self.lasso_button, self.exclude_button):
            row.addWidget(w)
        row.addStretch(1)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.status)
        col.addWidget(self.canvas, 1)
        col.addWidget(self.details)
        self._update_lasso_enabled()
        self._draw_empty()

    # -- computing -----------------------------------------------------------------
    job = staticmethod(embedding_job)
    busy_text = "Collecting features and laying out the map…"
    fail_text = "Could not compute the map: {message}"

    def show_result(self, result) -> None:
        self.show_map(result)

    def clear_result(self) -> None:
        self.data = None
        self._predictions = {}
        self._flagged = set()
        self.wrong = self.selected = np.zeros(0, dtype=bool)
        self.lasso_button.setChecked(False)
        self.details.setText("")
        self._update_lasso_enabled()
        self._draw_empty()

    def _update_lasso_enabled(self) -> None:
        """Lasso and Exclude act on a map's points: off until there is one, and say so."""
        ready = self.data is not None
        self.lasso_button.setEnabled(ready)
        self.lasso_button.setToolTip("Draw a loop around points to select them" if ready
                                     else "Compute the map first: the lasso selects its points.")
        if not ready:
            self.exclude_button.setEnabled(False)

    # -- predictions of the loaded run ------------------------------------------------------
    def set_predictions(self, predictions: list[dict] | None) -> None:
        """The loaded run's predictions (``evaluate_run``'s list): wrong ones get a ring on the map."""
        self._predictions = {str(p["path"]): str(p["predicted"]) for p in predictions or [] if "path" in p}
        if self.data is not None:
            self._mark_wrong()
            self._draw()

    def set_flagged(self, keys) -> None:
        """Sample keys flagged elsewhere (the data audit's label issues, outliers): an orange square."""
        self._flagged = set(keys or ())
        if self.data is not None:
            self._draw()

    def flagged_mask(self) -> np.ndarray:
        return np.array([k in self._flagged for k in self.data["keys"]], dtype=bool)

    def _mark_wrong(self) -> None:
        d = self.data
        classes = d["classes"]
        self.wrong = np.array([path in self._predictions and self._predictions[path] != classes[int(label)]
                               for path, label in zip(d["paths"], d["labels"])], dtype=bool)

    # -- drawing ---------------------------------------------------------------------
    def _draw_empty(self) -> None:
        ax = self.canvas.ax
        ax.clear()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "Press “Compute map” to lay out the labelled samples.", ha="center", va="center",
                transform=ax.transAxes, color="#777777", fontsize=9)
        self.canvas.draw_idle()

    def show_map(self, data: dict) -> None:
        self.data = data
        self._update_lasso_enabled()
        n = len(data["keys"])
        self.selected = np.zeros(n, dtype=bool)
        self._mark_wrong()
        self._draw()
        noun = modality_for(data.get("task") or "image").noun
        wrong = int(self.wrong.sum())
        self.status.setText(f"{n} {noun}, {len(data['classes'])} classes, {data['seconds']:.1f} s."
                            + (f" {wrong} misclassified by the loaded run (ringed)." if wrong else "")
                            + (f" {data['note']}" if data.get("note") else ""))
        self.computed.emit(data)

    def _draw(self) -> None:
        d = self.data
        ax = self.canvas.ax
        ax.clear()
        ax.set_axis_on()
        xy, labels = np.asarray(d["xy"]), np.asarray(d["labels"])
        excluded = self._excluded_mask()
        for c, name in enumerate(d["classes"]):
            rows = (labels == c) & ~excluded
            if rows.any():
                ax.scatter(xy[rows, 0], xy[rows, 1], s=10, color=CLASS_COLORS[c % len(CLASS_COLORS)],
                           label=name, linewidths=0)
        if excluded.any():
            ax.scatter(xy[excluded, 0], xy[excluded, 1], s=10, color="#cccccc", label="excluded", linewidths=0)
        if self.wrong.any():
            ax.scatter(xy[self.wrong, 0], xy[self.wrong, 1], s=34, facecolors="none", edgecolors="#000000",
                       linewidths=0.9, label="misclassified")
        flagged = self.flagged_mask() & ~excluded
        if flagged.any():
            ax.scatter(xy[flagged, 0], xy[flagged, 1], s=46, marker="s", facecolors="none", edgecolors="#ff8c00",
                       linewidths=1.0, label="flagged by the audit")
        self._selection_artist = ax.scatter([], [], s=40, facecolors="none", edgecolors="#ff0000", linewidths=1.2)
        self._update_selection()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="best", markerscale=1.5, framealpha=0.8,
                  ncol=1 if len(d["classes"]) <= 8 else 2)
        self.canvas.draw_idle()

    def _excluded_mask(self) -> np.ndarray:
        gone = set(self.state.project.data.exclusions)
        return np.array([k in gone for k in self.data["keys"]], dtype=bool)

    def _update_selection(self) -> None:
        if self._selection_artist is None or self.data is None:
            return
        xy = np.asarray(self.data["xy"])
        self._selection_artist.set_offsets(xy[self.selected] if self.selected.any() else np.zeros((0, 2)))
        count = int(self.selected.sum())
        self.exclude_button.setEnabled(count > 0)
        self.exclude_button.setText(f"Exclude selected ({count})" if count else "Exclude selected")
        self.canvas.draw_idle()

    # -- hover, click, lasso -------------------------------------------------------------
    def point_at(self, x_px: float, y_px: float) -> int | None:
        """The point nearest the display position (pixels), if within ``HOVER_PIXELS``."""
        if self.data is None or not len(self.data["keys"]):
            return None
        screen = self.canvas.ax.transData.transform(np.asarray(self.data["xy"], dtype=float))
        dist = np.hypot(screen[:, 0] - x_px, screen[:, 1] - y_px)
        i = int(dist.argmin())
        return i if dist[i] <= HOVER_PIXELS * self.canvas.device_pixel_ratio else None

    def tooltip_html(self, i: int) -> str:
        d = self.data
        name = d["classes"][int(d["labels"][i])]
        lines = [f"<b>{html.escape(name)}</b> · {html.escape(d['splits'][i])}"]
        predicted = self._predictions.get(d["paths"][i])
        if predicted is not None and predicted != name:
            lines.append(f"predicted: <b>{html.escape(predicted)}</b>")
        if d["texts"][i] is not None:          # a text sample
            text = d["texts"][i] or ""
            short = text if len(text) <= TEXT_TIP_CHARS else text[:TEXT_TIP_CHARS] + "…"
            lines.append(html.escape(short))
        else:
            url = QUrl.fromLocalFile(d["paths"][i]).toString()
            lines.insert(0, f'<img src="{html.escape(url)}" width="{THUMB_PX}" height="{THUMB_PX}">')
            lines.append(html.escape(Path(d["paths"][i]).name))
        return "<br>".join(lines)

    def _on_motion(self, event) -> None:
        if self.lasso is not None and event.button is not None:
            return                                  # drawing a loop
        i = self.point_at(event.x, event.y) if event.inaxes is self.canvas.ax else None
        if i is None:
            QToolTip.hideText()
            return
        QToolTip.showText(QCursor.pos(), self.tooltip_html(i), self.canvas)

    def _on_click(self, event) -> None:
        if self.lasso is not None or event.inaxes is not self.canvas.ax or event.button != 1:
            return
        i = self.point_at(event.x, event.y)
        if i is not None:
            self.open_sample(i)

    def open_sample(self, i: int) -> None:
        """Show the sample below the map; an image also opens in the system's viewer."""
        d = self.data
        key, name = d["keys"][i], d["classes"][int(d["labels"][i])]
        if d["texts"][i] is not None:          # a text sample
            self.details.setText(f"<b>{html.escape(name)}</b> · {html.escape(key)}<br>{html.escape(d['texts'][i] or '')}")
        else:
            self.details.setText(f"<b>{html.escape(name)}</b> · {html.escape(d['paths'][i])}")
            QDesktopServices.openUrl(QUrl.fromLocalFile(d["paths"][i]))
        self.sampleOpened.emit(key)

    @Slot(bool)
    def _set_lasso(self, on: bool) -> None:
        if on and self.lasso is None:
            self.lasso = LassoSelector(self.canvas.ax, self.select_polygon, props={"color": "#ff0000", "lw": 1})
        elif not on and self.lasso is not None:
            self.lasso.set_active(False)
            self.lasso.disconnect_events()
            self.lasso = None
            self.canvas.draw_idle()

    def select_polygon(self, vertices) -> int:
        """Select the points inside the loop drawn with the lasso (data coordinates); how many."""
        if self.data is None:
            return 0
        inside = PolygonPath(np.asarray(vertices, dtype=float)).contains_points(np.asarray(self.data["xy"]))
        self.selected = inside & ~self._excluded_mask()
        self._update_selection()
        return int(self.selected.sum())

    @Slot()
    def exclude_selected(self) -> int:
        """Add the selected samples' keys to the project's exclusions; marks the project modified."""
        if self.data is None or not self.selected.any():
            return 0
        data = self.state.project.data
        have = set(data.exclusions)
        added = [k for k, on in zip(self.data["keys"], self.selected) if on and k not in have]
        data.exclusions = list(data.exclusions) + added
        self.selected = np.zeros(len(self.data["keys"]), dtype=bool)
        if added:
            self.state.mark_changed("curation")
        self._draw()
        self.details.setText(f"{len(added)} sample(s) excluded from the project (nothing on disk changed); "
                             "train again to see the effect.")
        self.excludedChanged.emit(len(added))
        return len(added)

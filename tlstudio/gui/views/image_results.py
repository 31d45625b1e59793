"""The Results tab's image views: the misclassified and matrix-cell galleries, and their Grad-CAM
overlays when "Show where the model looks" is on (computed by worker jobs)."""
from __future__ import annotations

from tlstudio.gui.widgets.heatmap_view import GridHeatmaps
from tlstudio.gui.widgets.image_grid import GridItem, ImageGrid


class ImageSamples:
    """The galleries of an image run's predictions."""

    try_title = "Try an image"
    accepts_drops = True               # image files dropped on the tab are tried

    def __init__(self, panel) -> None:
        self.misclassified = ImageGrid()
        self.misclassified.setObjectName("misclassifiedGrid")
        self.cell = ImageGrid()
        self.cell.setObjectName("cellGrid")

    def show_misclassified(self, predictions: list[dict]) -> None:
        self.misclassified.set_items([
            GridItem(p["path"], f"{p['true']} →\n{p['predicted']} ({p['confidence']:.0%})",
                     f"{p['path']}\ntrue: {p['true']}\npredicted: {p['predicted']} ({p['confidence']:.0%})")
            for p in predictions])
        self.cell.set_items([])

    def show_cell(self, hits: list[dict], true_name: str, predicted_name: str) -> None:
        self.cell.set_items([GridItem(p["path"], f"{p['confidence']:.0%}",
                                      f"{p['path']}\n{true_name} → {predicted_name}") for p in hits])

    def show_label_mistakes(self, label: str, false_positives: list[dict], false_negatives: list[dict]) -> None:
        """A multi-label run's mistakes on one label: ``misclassified`` shows the samples it was wrongly
        given, ``cell`` those it missed; entries carry ``true`` and ``predicted`` as "a; b" and the
        label's probability as ``confidence``."""
        for grid, entries in ((self.misclassified, false_positives), (self.cell, false_negatives)):
            grid.set_items([GridItem(p["path"], f"{label} {p['confidence']:.0%}\n{p['true']}",
                                     f"{p['path']}\ntrue: {p['true']}\n"
                                     f"predicted: {p['predicted']}\n{label}: {p['confidence']:.1%}")
                            for p in entries])

    def clear(self) -> None:
        self.misclassified.set_items([])
        self.cell.set_items([])

    def is_running(self) -> bool:
        return self.misclassified.is_running() or self.cell.is_running()

    def stop_and_wait(self, timeout_ms: int) -> bool:
        return all([grid.stop_and_wait(timeout_ms) for grid in (self.misclassified, self.cell)])


class ImageExplain:
    """Grad-CAM overlays on the galleries and on "Try an image"."""

    label = "Show where the model looks"

    def __init__(self, controls, samples: ImageSamples) -> None:
        panel = controls.panel
        self.grids = [GridHeatmaps(grid, controls) for grid in (samples.misclassified, samples.cell,
                                                                panel.try_grid)]

    def set_model(self, model) -> None:
        for grid in self.grids:
            grid.set_model(model)

    def set_enabled(self, on: bool) -> None:
        for grid in self.grids:
            grid.set_enabled(on)

    def refresh(self) -> None:
        """The overlays follow the grids; nothing to recompute."""

    def is_running(self) -> bool:
        return any(g.is_running() for g in self.grids)

    def stop_and_wait(self, timeout_ms: int) -> bool:
        return all([g.stop_and_wait(timeout_ms) for g in self.grids])

"""The Results tab of a single-label run: the per-class table and confusion matrix above, the
misclassified samples and a matrix cell's samples in the first two tabs. The panel builds these
widgets itself (they predate the task-type registry); this view hands them to the registry."""
from __future__ import annotations


class SingleLabelResults:
    """``upper``, ``first_tab`` and ``second_tab`` are the panel's own; showing is the panel's."""

    def __init__(self, panel) -> None:
        self.panel = panel
        self.upper = panel.class_results
        self.first_tab = panel.misclassified_stack
        self.second_tab = panel.cell_page

    def show_summary(self, result: dict) -> None:
        self.panel.show_class_summary(result)

    def show_views(self, result: dict) -> None:
        self.panel.show_class_views(result)
        self.panel.embedding_map.set_predictions(result.get("predictions"))

    def clear(self) -> None:
        """The panel clears its own widgets."""

    def is_running(self) -> bool:
        return False                     # the panel watches its own galleries

    def stop_and_wait(self, timeout_ms: int) -> bool:
        return True

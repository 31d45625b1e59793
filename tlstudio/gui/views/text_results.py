"""The Results tab's text views: tables of misclassified and matrix-cell texts, and their words
highlighted by attribution when "Show the words that decide" is on (computed by worker jobs)."""
from __future__ import annotations

from tlstudio.gui.jobs.explain_jobs import highlighted_text
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.widgets.heatmap_view import TextHighlight
from tlstudio.gui.widgets.text_widgets import TextTable

HEADERS = ["True", "Predicted", "Probability", "Text"]


class TextSamples:
    """The tables of a text run's predictions."""

    try_title = "Try a text"
    accepts_drops = False

    def __init__(self, panel) -> None:
        self.state = panel.state
        self.misclassified = TextTable(HEADERS, "misclassifiedTexts", "Search the misclassified texts…")
        self.cell = TextTable(HEADERS, "cellTexts", "Search the texts of this cell…")
        self._texts_of: tuple[object, dict] = (None, {})    # the dataset -> its texts by path

    def show_misclassified(self, predictions: list[dict]) -> None:
        self.misclassified.set_rows(*self._rows(predictions))
        self.cell.set_rows([])

    def show_cell(self, hits: list[dict], true_name: str, predicted_name: str) -> None:
        self.cell.set_rows(*self._rows(hits))

    def show_label_mistakes(self, label: str, false_positives: list[dict], false_negatives: list[dict]) -> None:
        """A multi-label run's mistakes on one label: ``misclassified`` lists the texts it was wrongly
        given, ``cell`` those it missed (the probability column is this label's)."""
        self.misclassified.search.setPlaceholderText(f"Search the texts wrongly given '{label}'…")
        self.cell.search.setPlaceholderText(f"Search the texts that miss '{label}'…")
        self.misclassified.set_rows(*self._rows(false_positives))
        self.cell.set_rows(*self._rows(false_negatives))

    def clear(self) -> None:
        self.misclassified.set_rows([])
        self.cell.set_rows([])

    def is_running(self) -> bool:
        return False                   # the tables are filled on the GUI thread

    def stop_and_wait(self, timeout_ms: int) -> bool:
        return True

    def _text_of(self, prediction: dict) -> str:
        """A prediction's text: carried by the prediction, else looked up in the open dataset."""
        if prediction.get("text"):
            return str(prediction["text"])
        dataset = self.state.dataset
        if dataset is not None and self._texts_of[0] is not dataset:
            self._texts_of = (dataset, {s.path: s.text for s in dataset.samples})
        found = self._texts_of[1].get(prediction.get("path"))
        return found if found is not None else str(prediction.get("path", ""))

    def _rows(self, predictions: list[dict]) -> tuple[list[tuple], list[str]]:
        rows, tips = [], []
        for p in predictions:
            text = self._text_of(p)
            rows.append((str(p["true"]), str(p["predicted"]), f"{p['confidence']:.0%}", text))
            tips.append(f"{p.get('path', '')}\ntrue: {p['true']} · predicted: {p['predicted']} "
                        f"({p['confidence']:.0%})\n\n{text}")
        return rows, tips


class TextExplain:
    """Words highlighted in "Try a text" and in the selected misclassified (or cell) text."""

    label = "Show the words that decide"

    def __init__(self, controls, samples: TextSamples) -> None:
        self.controls = controls
        self.model = None
        self.enabled = False
        panel = controls.panel
        self.try_edit = panel.try_text_edit
        self.try_highlight = TextHighlight("tryTextHighlight")
        panel.try_text_table.parentWidget().layout().addWidget(self.try_highlight)
        self.table_highlights = {}
        for table in (samples.misclassified, samples.cell):
            highlight = TextHighlight(f"{table.view.objectName()}Highlight")
            table.layout().addWidget(highlight)
            self.table_highlights[table] = highlight
            table.view.selectionModel().currentRowChanged.connect(
                lambda current, _previous, t=table: self._on_row_selected(t, current))
        self._tasks: dict[object, object] = {}     # highlight -> its newest task

    def set_model(self, model) -> None:
        self.model = model
        for highlight in [self.try_highlight, *self.table_highlights.values()]:
            highlight.clear()

    def set_enabled(self, on: bool) -> None:
        self.enabled = on
        if not on:
            self._tasks.clear()
            for highlight in [self.try_highlight, *self.table_highlights.values()]:
                highlight.clear()
            return
        self.refresh()
        for table in self.table_highlights:
            current = table.view.currentIndex()
            if current.isValid():
                self._on_row_selected(table, current)

    def refresh(self) -> None:
        """Highlight the text now in the "Try a text" box."""
        text = self.try_edit.toPlainText().strip()
        if text:
            self._highlight(self.try_highlight, text, None)
        else:
            self.try_highlight.clear()

    def _on_row_selected(self, table, current) -> None:
        if not (self.enabled and current.isValid()):
            return
        row = table.model.rows[table.proxy.mapToSource(current).row()]
        predicted, text = str(row[1]), str(row[3])
        self._highlight(self.table_highlights[table], text, predicted)

    def _highlight(self, highlight: TextHighlight, text: str, class_name: str | None) -> None:
        if self.model is None:
            return
        highlight.show_busy()
        task = run_task(highlighted_text, self.model, text, class_name)
        self._tasks[highlight] = task

        def shown(result: dict) -> None:
            if self._tasks.get(highlight) is task and self.enabled:
                highlight.show_result(result)

        def failed(message: str) -> None:
            if self._tasks.get(highlight) is task:
                highlight.show_message(f"Could not explain this text: {message}")
        task.finished.connect(shown)
        task.failed.connect(failed)

    def is_running(self) -> bool:
        return any(t.is_running() for t in self._tasks.values())

    def stop_and_wait(self, timeout_ms: int) -> bool:
        ok = True
        for task in list(self._tasks.values()):
            task.cancel()
            ok = task.wait(timeout_ms) and ok
        return ok

"""The per-modality GUI views, chosen by the modality's name (``Project.task``), in the spirit of
napari's layer controls: a panel lays out the slots once and shows the page of the data's modality,
so no panel branches on image versus text. A new modality adds its pages here."""
from __future__ import annotations

from tlstudio.gui.views.image_data import ImageDataPage
from tlstudio.gui.views.image_results import ImageExplain, ImageSamples
from tlstudio.gui.views.label_rows import ImageLabelRows, TextLabelRows
from tlstudio.gui.views.text_data import TextDataPage
from tlstudio.gui.views.text_results import TextExplain, TextSamples

# The Data tab's page per modality: ``page(browser)`` gives ``items``, ``side``, ``top``, ``report``
# widgets (None when it has none) and takes show_dataset / show_class / on_scan_failed / on_model_changed.
DATA_PAGES = {"image": ImageDataPage, "text": TextDataPage}


def data_pages(browser) -> dict:
    """One Data-tab page per modality, built for ``browser``."""
    return {name: page(browser) for name, page in DATA_PAGES.items()}

# The Results tab's views per modality: the galleries (or tables) of predictions, the "Try" page's
# title, and what "Show where the model looks" does (``explain(controls, samples)``).
RESULT_SAMPLES = {"image": ImageSamples, "text": TextSamples}
RESULT_EXPLAIN = {"image": ImageExplain, "text": TextExplain}


def result_samples(panel) -> dict:
    return {name: view(panel) for name, view in RESULT_SAMPLES.items()}


def result_explainers(controls, samples: dict) -> dict:
    return {name: RESULT_EXPLAIN[name](controls, samples[name]) for name in RESULT_EXPLAIN}

# The Label-next tab's rows per modality: ``rows(table, parent)`` with activate / fill(rows) / stop.
LABEL_ROWS = {"image": ImageLabelRows, "text": TextLabelRows}


def label_rows(table, parent) -> dict:
    return {name: rows(table, parent) for name, rows in LABEL_ROWS.items()}

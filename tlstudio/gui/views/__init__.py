"""The per-modality GUI views, chosen by the modality's name (``Project.task``), in the spirit of
napari's layer controls: a panel lays out the slots once and shows the page of the data's modality,
so no panel branches on image versus text. A new modality adds its pages here."""
from __future__ import annotations

from tlstudio.gui.views.image_data import ImageDataPage
from tlstudio.core.runs.multilabel_metrics import TASK_TYPE as MULTILABEL
from tlstudio.gui.views.image_results import ImageExplain, ImageSamples
from tlstudio.gui.views.multilabel_results import MultiLabelResults
from tlstudio.gui.views.single_label_results import SingleLabelResults
from tlstudio.gui.views.task_data import MultiLabelData, SingleLabelData
from tlstudio.gui.views.task_try import MultiLabelTry, SingleLabelTry
from tlstudio.gui.views.task_words import MULTILABEL_WORDS, SINGLE_WORDS, TaskWords
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

# The Results tab's pages per task type (single-label: one class per sample; multi-label: several),
# chosen by an evaluation result's ``task_type``: ``view(panel)`` gives ``upper`` (above the tabs),
# ``first_tab`` and ``second_tab`` (the tabs' first two pages) and show_summary / show_views / clear.
SINGLE_LABEL = "single"
RESULT_TASKS = {SINGLE_LABEL: SingleLabelResults, MULTILABEL: MultiLabelResults}


def result_task_views(panel) -> dict:
    return {name: view(panel) for name, view in RESULT_TASKS.items()}


def result_task_type(result: dict | None) -> str:
    """The task type an evaluation result is of (results without one are single-label)."""
    return str((result or {}).get("task_type") or SINGLE_LABEL)


# "Try an image / a text" per task type: the top classes, or every label against its threshold.
TRY_TASKS = {SINGLE_LABEL: SingleLabelTry, MULTILABEL: MultiLabelTry}


def try_tasks() -> dict:
    return {name: view() for name, view in TRY_TASKS.items()}


# The Data tab's part per task type: ``view(browser)`` gives ``widget`` (None: nothing to add under the
# class counts), ``summary(index, noun)`` and ``show(index)``.
DATA_TASKS = {SINGLE_LABEL: SingleLabelData, MULTILABEL: MultiLabelData}


def data_task_views(browser) -> dict:
    return {name: view(browser) for name, view in DATA_TASKS.items()}


def dataset_task_type(index) -> str:
    """The task type of a scanned dataset (indexes without one are single-label)."""
    return str(getattr(index, "task_type", None) or SINGLE_LABEL)


# What the Model and Train tabs say about the task type.
TASK_WORDS = {SINGLE_LABEL: SINGLE_WORDS, MULTILABEL: MULTILABEL_WORDS}


def project_task_type(state) -> str:
    """The open project's task type: its scanned dataset's, else the project's explicit choice."""
    if state.dataset is not None:
        return dataset_task_type(state.dataset)
    chosen = getattr(state.project.data, "task_type", None)
    return chosen if chosen in TASK_WORDS else SINGLE_LABEL


def task_words(state) -> TaskWords:
    return TASK_WORDS[project_task_type(state)]
# The Label-next tab's rows per modality: ``rows(table, parent)`` with activate / fill(rows) / stop.
LABEL_ROWS = {"image": ImageLabelRows, "text": TextLabelRows}


def label_rows(table, parent) -> dict:
    return {name: rows(table, parent) for name, rows in LABEL_ROWS.items()}

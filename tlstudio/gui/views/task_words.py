"""What the Model and Train tabs say about the task type (single- or multi-label), by name."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskWords:
    line: str | None          # the Train tab's task line; None: nothing to add (single-label, as always)
    output: str               # the head designer's output line, formatted with n (units) and source
    activation: str | None    # the output's activation in the head diagram (None: shown as it always was)


SINGLE_WORDS = TaskWords(None, "<b>Output: Linear({n})</b> — one unit per class, {source}", None)
MULTILABEL_WORDS = TaskWords(
    "<b>Multi-label: sigmoid per label</b> — binary cross-entropy; each label gets its own threshold, "
    "tuned on predictions for samples the head did not train on",
    "<b>Output: Linear({n}) + sigmoid</b> — one unit per label (multi-label: a sample may carry several), "
    "{source}", "sigmoid")

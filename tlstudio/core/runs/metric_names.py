"""One name per metric, with where it was measured: the words the Results tab, the export page and the
CLI print.

Accuracy is "accuracy", always followed by what it was measured on: "out-of-fold" (each sample
predicted by a head that never saw it), "validation split", "test split", or a data folder's name.
The top-k and macro-F1 figures keep those names and share the line's source.
"""
from __future__ import annotations

from pathlib import Path

OUT_OF_FOLD = "out-of-fold"


def source_name(source: str | None) -> str:
    """The short name of where a figure comes from ("out-of-fold", "validation split", "test split",
    a folder's name); "" when unknown."""
    text = str(source or "").strip()
    low = text.lower()
    if low.startswith("out-of-fold"):
        return OUT_OF_FOLD
    if low.startswith("validation split, measured before"):
        return "validation split (before the final refit)"
    if low.startswith(("validation split", "val split")):
        return "validation split"
    if low.startswith("test split"):
        return "test split"
    return Path(text).name if text else ""


def accuracy_text(accuracy: float, source: str | None) -> str:
    """"94.7% (out-of-fold)": an accuracy and where it was measured."""
    where = source_name(source)
    return f"{accuracy:.1%}" + (f" ({where})" if where else "")


def metrics_line(result: dict, noun: str = "images") -> str:
    """One line for an evaluation result: "Accuracy 94.7% · top-3 accuracy 99.0% · macro F1 0.946 —
    out-of-fold, 300 images". A held-out report stores only the predicted class: no top-k there."""
    parts = [f"Accuracy {result['accuracy']:.1%}"]
    k = int(result.get("top_k", 1) or 1)
    if k > 1:
        parts.append(f"top-{k} accuracy {result.get('top_k_accuracy', 0):.1%}")
    parts.append(f"macro F1 {result.get('macro_f1', 0):.3f}")
    where = source_name(result.get("source"))
    n = result.get("samples", len(result.get("predictions", [])))
    return " · ".join(parts) + f" — {where + ', ' if where else ''}{n} {noun}"

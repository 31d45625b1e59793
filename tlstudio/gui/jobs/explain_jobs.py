"""Worker jobs behind "Show where the model looks": heat-map thumbnails and highlighted texts.

They run through ``tasks.run_task``, never on the GUI thread. An explanation hooks
the model's modules while it runs, so it works on its own copy of the run's model
(``ExplainModel``), never on the one that evaluation and prediction jobs share,
and one explanation at a time runs on that copy. torch is imported on first use.
"""
from __future__ import annotations

import threading

from PySide6.QtGui import QImage

from tlstudio.gui.qimages import pil_to_qimage


class ExplainModel:
    """A private copy of a loaded run for explanations, made on first use in a worker."""

    def __init__(self, loaded) -> None:
        self.source = loaded
        self._copy = None
        self._lock = threading.Lock()

    def run(self, fn, *args, **kwargs):
        """``fn(copy_of_loaded, *args, **kwargs)`` with the copy to itself."""
        with self._lock:
            if self._copy is None:
                import copy
                from dataclasses import replace

                self._copy = replace(self.source, model=copy.deepcopy(self.source.model).eval())
            return fn(self._copy, *args, **kwargs)


def _fit(image, size: int):
    from PIL import Image

    scale = size / max(image.width, image.height)
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(target, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)


def heatmap_thumbnails(model: ExplainModel, paths: list[str], size: int, job=None) -> list[QImage]:
    """The Grad-CAM overlay of each image (its predicted class) as a ``size`` px thumbnail, in order;
    a null QImage for an image that cannot be read or explained. ``job`` (a JobState) cancels."""
    from tlstudio.core.errors import TLStudioError
    from tlstudio.core.explain import explain_image

    out = []
    for done, path in enumerate(paths, 1):
        if job is not None:
            job.check()
        try:
            explanation = model.run(explain_image, path)
            out.append(pil_to_qimage(_fit(explanation.overlay(), size)))
        except (TLStudioError, OSError, ValueError):
            out.append(QImage())
        if job is not None:
            job.set_progress(done, len(paths))
    return out


def highlighted_text(model: ExplainModel, text: str, class_name: str | None = None) -> dict:
    """Rich text of ``text`` with its words coloured by attribution, and a one-line caption."""
    from tlstudio.core.explain import explain_text, explanation_html

    explanation = model.run(explain_text, text, class_name)
    caption = (f"Words for <b>{explanation.class_name}</b> ({explanation.probability:.0%}): "
               "orange raised its score, blue lowered it.")
    return {"text": text, "html": explanation_html(explanation), "caption": caption,
            "class_name": explanation.class_name, "words": [w.to_dict() for w in explanation.words]}

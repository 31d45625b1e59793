"""Zero-shot on a project's data: the baseline accuracy on its labelled samples and suggestions for its pool.

``zero_shot(index, task)`` picks the classifier the task's modality names (``Modality.zero_shot``:
"sentence-encoder" for texts, "clip" for images) from ``ENCODERS``, embeds the class prompts
(names, with the project's one-line descriptions: ``data.class_descriptions``), scores every
labelled sample and every pool sample (``DatasetIndex.pool``, unlabeled samples, when the
dataset has them) by cosine, and calibrates the temperature on the labelled ones
(``prototypes.calibrate``). The result is plain JSON-able data: a baseline row for the
Results tab and the CLI, and per pool sample a suggested class with its probability, which
``suggestions_for_project`` turns into the Project's ``data.suggestions`` (suggestions, not
labels: nothing is labelled until the user accepts one).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from tlstudio.core.data.index import DatasetIndex, sample_key
from tlstudio.core.progress import JobState
from tlstudio.core.zeroshot.clip_zero_shot import ClipZeroShot
from tlstudio.core.zeroshot.prototypes import calibrate, cosine_scores
from tlstudio.core.zeroshot.text_zero_shot import SentenceEncoderZeroShot

ENCODERS: dict[str, Callable[..., Any]] = {"sentence-encoder": SentenceEncoderZeroShot, "clip": ClipZeroShot}
SOURCE = "zero-shot"


@dataclass
class ZeroShotResult:
    method: str                      # "sentence encoder all-MiniLM-L6-v2", "CLIP-style model ..."
    classes: list[str]
    prompts: list[str]
    described: bool                  # any class has a description
    labelled: int
    accuracy: float | None           # on the labelled samples (None: none)
    per_class_recall: dict[str, float]
    calibration: dict
    pool: list[dict] = field(default_factory=list)     # {"key", "path", "label", "confidence"}
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"method": self.method, "classes": self.classes, "prompts": self.prompts,
                "described": self.described, "labelled": self.labelled, "accuracy": self.accuracy,
                "chance": 1.0 / len(self.classes) if self.classes else None,
                "per_class_recall": self.per_class_recall, "calibration": self.calibration,
                "pool": self.pool, "seconds": round(self.seconds, 2)}

    def baseline_line(self, noun: str = "samples") -> str:
        """"Zero-shot (class names): acc 83.1 % on 360 labelled texts (chance 16.7 %)"."""
        how = "class names + descriptions" if self.described else "class names"
        if self.accuracy is None:
            return f"Zero-shot ({how}): no labelled {noun} to measure it on"
        return (f"Zero-shot ({how}): acc {self.accuracy * 100:.1f} % on {self.labelled} labelled {noun} "
                f"(chance {100 / len(self.classes):.1f} %)")


def zero_shot_encoder(modality, model_folder: str | None = None):
    """The zero-shot classifier of ``modality`` (its model loaded; ``NoClipModel`` for images without one)."""
    return ENCODERS[modality.zero_shot](model_folder)


def zero_shot(index: DatasetIndex, modality, *, descriptions: dict[str, str] | None = None,
              model_folder: str | None = None, encoder: Any = None,
              job: JobState | None = None) -> ZeroShotResult:
    """Score ``index``'s labelled and pool samples against its class names (see the module docstring).

    ``modality``: the task's Modality; ``model_folder``: a CLIP-style model folder for images
    (None: found in the Hugging Face cache, else ``NoClipModel``; texts: another sentence-transformers
    folder instead of the bundled one); ``encoder``: an already built
    classifier of the right kind (tests, repeated calls); ``job``: a JobState (progress, cancel)."""
    t0 = time.perf_counter()
    descriptions = {k: v for k, v in (descriptions or {}).items() if str(v).strip()}
    encoder = encoder if encoder is not None else zero_shot_encoder(modality, model_folder)
    classes = list(getattr(index, "label_choices", lambda: index.classes)())
    prompts = encoder.prompts(classes, descriptions)
    prototypes = encoder.embed_prompts(prompts)
    pool = list(getattr(index, "pool", []) or [])
    everything = list(index.samples) + pool

    if job is not None:
        job.phase = f"embedding {modality.noun}"
    scores = cosine_scores(encoder.embed_samples(everything, job=job), prototypes) if everything \
        else torch.empty(0, len(classes))
    n = len(index.samples)
    labels = torch.tensor([s.label for s in index.samples], dtype=torch.long)
    labelled_scores = scores[:n]
    cal = calibrate(labelled_scores if n else None, labels if n else None)
    accuracy, recall = None, {}
    if n:
        pred = labelled_scores.argmax(1)
        accuracy = float((pred == labels).float().mean())
        for c, name in enumerate(classes):
            members = labels == c
            if members.any():
                recall[name] = round(float((pred[members] == c).float().mean()), 4)
    probs = torch.softmax(scores[n:] / cal.temperature, dim=1)
    suggestions = [{"key": sample_key(s, index.root), "path": s.path, "label": classes[int(p.argmax())],
                    "confidence": round(float(p.max()), 4)} for s, p in zip(pool, probs)]
    return ZeroShotResult(method=encoder.name, classes=classes, prompts=prompts, described=bool(descriptions),
                          labelled=n, accuracy=accuracy, per_class_recall=recall, calibration=cal.to_dict(),
                          pool=suggestions, seconds=time.perf_counter() - t0)


def suggestions_for_project(result: ZeroShotResult) -> dict[str, dict]:
    """What ``data.suggestions`` stores for the pool: sample key -> {label, confidence, source}."""
    return {p["key"]: {"label": p["label"], "confidence": p["confidence"], "source": SOURCE} for p in result.pool}

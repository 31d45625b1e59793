"""Zero-shot classification by nearest class prototype: cosine scores, calibrated probabilities.

A zero-shot classifier has no trained head: each class is a vector (the embedding of its
name, and of its one-line description when the user wrote one), a sample's scores are the
cosines between its embedding and every class vector, and the predicted class is the
nearest. Cosines of a sentence encoder are small numbers close together (0.1 to 0.5), so
probabilities need a temperature: ``softmax(cos / T)``. How ``T`` is set (``calibrate``):

* with labelled samples (the project's), ``T`` minimises their log-loss (the arg-max never
  changes, so the accuracy on those samples is still a zero-shot figure; only one number
  is fitted on them);
* without, ``DEFAULT_TEMPERATURE``, fitted the same way on the demo texts and on the Debian
  package descriptions of ``benchmarks/bench_fewshot.py`` (0.04 and 0.06-0.07).

Pure torch on feature tensors: the encoders that make the vectors live in
``text_zero_shot.py`` (sentence encoder) and ``clip_zero_shot.py`` (CLIP-style models).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from tlstudio.core.calibration import expected_calibration_error, fit_temperature

DEFAULT_TEMPERATURE = 0.05
SCALE = 1.0 / DEFAULT_TEMPERATURE      # fit_temperature searches a factor of this scale in [0.25, 10]
MIN_LABELLED_TO_FIT = 10


@dataclass
class Calibration:
    temperature: float
    fitted_on: str                   # "labelled samples (N)" or "default (no labelled samples)"
    ece_before: float | None = None  # at the default temperature, on the labelled samples
    ece_after: float | None = None

    def to_dict(self) -> dict:
        return {"temperature": round(self.temperature, 5), "fitted_on": self.fitted_on,
                "ece_before": self.ece_before, "ece_after": self.ece_after}


def class_prompt(name: str, description: str | None = None) -> str:
    """The text embedded for a class: its name (underscores and dashes read as spaces), and
    its description after a colon when there is one."""
    words = " ".join(str(name).replace("_", " ").replace("-", " ").split())
    description = " ".join(str(description or "").split())
    return f"{words}: {description}" if description else words


def cosine_scores(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """[N, C] cosines between ``features`` [N, D] and class ``prototypes`` [C, D]."""
    return nn.functional.normalize(features.float(), dim=1) @ nn.functional.normalize(prototypes.float(), dim=1).T


def calibrate(scores: torch.Tensor | None, labels: torch.Tensor | None) -> Calibration:
    """The temperature for ``softmax(scores / T)``: fitted on labelled ``scores`` when there are
    at least ``MIN_LABELLED_TO_FIT``, else the default."""
    if scores is None or labels is None or labels.numel() < MIN_LABELLED_TO_FIT:
        return Calibration(DEFAULT_TEMPERATURE, "default (too few labelled samples to fit)")
    logits = scores.float() * SCALE
    factor = fit_temperature(logits, labels)
    temperature = DEFAULT_TEMPERATURE * factor
    return Calibration(temperature, f"labelled samples ({labels.numel()})",
                       ece_before=expected_calibration_error(logits, labels),
                       ece_after=expected_calibration_error(logits / factor, labels))


@dataclass
class ZeroShotScores:
    """What a zero-shot classifier made of some samples: scores and calibrated probabilities."""

    classes: list[str]
    prompts: list[str]
    scores: torch.Tensor             # [N, C] cosines
    temperature: float
    extra: dict = field(default_factory=dict)

    @property
    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.scores / self.temperature, dim=1)

    def predictions(self) -> list[tuple[int, float]]:
        """(class index, calibrated confidence) per sample."""
        conf, pred = self.probabilities.max(dim=1)
        return [(int(p), float(c)) for p, c in zip(pred, conf)]

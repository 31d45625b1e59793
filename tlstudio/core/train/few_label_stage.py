"""The few-label stage of a run: tune the base contrastively before the head is fitted.

``training.few_shot`` is "auto" (the modality decides from the training labels per class
and the model: ``Modality.few_label_tuning``), "contrastive" or "off". When the base is
tuned, everything after it (the feature cache, whose key hashes the base's tensors; the
head search; the saved weights, base included) sees the tuned base, so evaluation,
prediction and export of the run need nothing new.

The tuning sees the training split only. A cross-validated head search would score
training samples whose features were pulled towards their own class, so a tuned run's
search holds out the validation split instead (``cross_validate=False``): its figure
is measured on samples neither the encoder nor the head trained on.
"""
from __future__ import annotations

from collections import Counter

from tlstudio.core.errors import ProjectError
from tlstudio.core.progress import JobState
from tlstudio.core import events as ev
from tlstudio.core.train.contrastive import TuningReport, tune_base


def few_label_mode(project, modality, card, train_samples, num_classes: int) -> str:
    """The tuning this run gets: "off" or one of the modality's ``few_label_tunings``."""
    wanted = project.training.few_shot
    if wanted == "off":
        return "off"
    if wanted == "auto":
        counts = Counter(int(s.label) for s in train_samples)
        return modality.few_label_tuning([counts.get(c, 0) for c in range(num_classes)], card)
    if wanted not in modality.few_label_tunings:
        raise ProjectError(f"Few-label mode {wanted!r} is not available for {modality.noun}; "
                           "set it to auto or off.")
    return wanted


def run_few_label_stage(mode: str, modality, pre, model, train_samples, device, seed: int, emit, *,
                        job: JobState | None = None) -> TuningReport | None:
    """Tune ``model.base`` in place (mode "contrastive"); None when ``mode`` is "off"."""
    if mode == "off":
        return None
    dataset = modality.train_dataset(pre, train_samples, augment="none", seed=seed)
    items = [dataset[i] for i in range(len(train_samples))]

    def on_step(step: int, steps: int, loss: float, eta: float) -> None:
        emit(ev.BaseTuningProgress(step=step, steps=steps, loss=loss, eta_seconds=eta))

    return tune_base(model.base, items, modality.collate, device=device, seed=seed, job=job,
                     on_step=on_step)

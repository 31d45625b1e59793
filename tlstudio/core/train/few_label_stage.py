"""The few-label stage of a run: tune the base contrastively before the head is fitted.

``training.few_shot`` is "auto", "contrastive" or "off". "auto" asks the modality first
(``Modality.few_label_plan``: few training labels per class, a model the tuning suits); when
it considers tuning, a probe on the frozen base's features of the training samples
(``few_label_probe.py``, one forward pass over the few labelled samples, which the tuning
needs anyway) decides: the base is tuned only when the probe is below the modality's
``few_label_probe_enough`` -- where the frozen geometry already separates the classes, minutes
of tuning buy about nothing (benchmarks/bench_fewshot.py). The decision and its reason go to
the user as a ``FewLabelDecision`` event and into the run's metrics (``few_label``).

When the base is tuned, everything after it (the feature cache, whose key hashes the base's
tensors; the head search; the saved weights, base included) sees the tuned base, so
evaluation, prediction and export of the run need nothing new.

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
from tlstudio.core.train.contrastive import TuningReport, encode_items, tune_base
from tlstudio.core.train.few_label_probe import ProbeResult, leave_one_out_centroid_accuracy


def few_label_plan(project, modality, card, train_samples, num_classes: int) -> tuple[str, str, bool]:
    """(mode, reason, automatic): the tuning this run considers ("off" or one of the modality's
    ``few_label_tunings``), why (for "off"), and whether "auto" chose it (then the probe decides)."""
    wanted = project.training.few_shot
    if wanted == "off":
        return "off", "set to Off in the project", False
    if wanted == "auto":
        counts = Counter(int(s.label) for s in train_samples)
        mode, reason = modality.few_label_plan([counts.get(c, 0) for c in range(num_classes)], card)
        return mode, reason, True
    if wanted not in modality.few_label_tunings:
        raise ProjectError(f"Few-label mode {wanted!r} is not available for {modality.noun}; "
                           "set it to auto or off.")
    return wanted, "", False


def decision_message(mode: str, automatic: bool, reason: str, probe: ProbeResult | None, enough: float,
                     modality) -> str:
    """One sentence for the run's log: what happens to the base and why (``enough``: the modality's
    chance-corrected bar, shown as the accuracy it means with this many classes)."""
    base = modality.base_word
    if probe is not None:
        share = (f"{probe.accuracy:.0%} of the {probe.samples} training {modality.noun} lie nearest their own "
                 f"class's mean on the frozen features")
        bar = f"{probe.accuracy_for(enough):.0%} with {probe.classes} classes"
        if mode == "off":
            return (f"Few labels: {base} kept frozen: its features already separate the classes ({share}; "
                    f"tuning runs below {bar}). Choose Contrastive to tune anyway.")
        return f"Few labels: tuning the {base} contrastively: {share}, below {bar}."
    if mode == "off":
        return f"Few labels: {base} kept frozen ({reason})."
    return f"Few labels: tuning the {base} contrastively ({'automatic' if automatic else 'set in the project'})."


def run_few_label_stage(mode: str, modality, pre, model, train_samples, device, seed: int, emit, *,
                        job: JobState | None = None, automatic: bool = False, reason: str = "",
                        decide_only: bool = False) -> tuple[TuningReport | None, dict]:
    """Decide and, when it tunes, tune ``model.base`` in place; (the tuning report or None, the decision
    record). ``automatic``: "auto" considered ``mode`` and the probe decides whether it runs.
    ``decide_only``: a resumed run (its tuned base comes with the resume point) only decides."""
    record = {"requested": "auto" if automatic else mode, "mode": mode, "automatic": automatic}
    if mode == "off":
        record["reason"] = reason
        if automatic and modality.few_label_tunings:      # a modality with nothing to tune says nothing
            message = decision_message("off", True, reason, None, 0.0, modality)
            emit(ev.FewLabelDecision(mode="off", automatic=True, probe_accuracy=-1.0, message=message))
            record["message"] = message
        return None, record
    dataset = modality.train_dataset(pre, train_samples, augment="none", seed=seed)
    items = [dataset[i] for i in range(len(train_samples))]
    frozen = encode_items(model.base, items, modality.collate, device)
    probe = leave_one_out_centroid_accuracy(*frozen)
    record["probe"] = probe.to_dict()
    enough = float(modality.few_label_probe_enough)
    if automatic and probe.skill >= enough:
        mode = record["mode"] = "off"
    message = decision_message(mode, automatic, reason, probe if automatic else None, enough, modality)
    record["message"] = message
    emit(ev.FewLabelDecision(mode=mode, automatic=automatic, probe_accuracy=float(probe.accuracy),
                             message=message))
    if mode == "off" or decide_only:
        return None, record

    def on_step(step: int, steps: int, loss: float, eta: float) -> None:
        emit(ev.BaseTuningProgress(step=step, steps=steps, loss=loss, eta_seconds=eta))

    return tune_base(model.base, items, modality.collate, device=device, seed=seed, job=job,
                     on_step=on_step, frozen=frozen), record

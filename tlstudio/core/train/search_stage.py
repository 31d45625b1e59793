"""Stage 1 by head search: the search on cached features, then its record in the run folder.

``run_search_stage(project, folder, data, state, classes, emit, model, split)`` runs ``headsearch.search.search_head``
on the run's stored features (``data``: the run's ``StageData``), puts the winning head (calibrated unless
fine-tuning follows) on the model, and writes search.json, the out-of-fold
predictions, the chosen settings into the run's project and the checkpoints.
When the final head was refit on train + val, model.json says so
(``trained_on``), so evaluation never scores it on its own training samples.
"""
from __future__ import annotations

import torch

from tlstudio.core.model.head import HeadSpec
from tlstudio.core.runs import run_folder as rf
from tlstudio.core import events as ev
from tlstudio.core.calibration import fold_temperature
from tlstudio.core.headsearch.results import format_table
from tlstudio.core.headsearch.search import search_head
from tlstudio.core.train.checkpoints import Snapshotter, rng_state
from tlstudio.core.features.cache import gather_rows
from tlstudio.core.headsearch.curves import SearchCurves


def heldout_source(search: dict) -> str:
    """How the reported accuracy of a searched head was measured, for labels."""
    if search["folds"] > 1:
        return f"out-of-fold predictions ({search['method']}; each sample predicted by a head that never saw it)"
    return "validation split (the final head did not train on it)" if not search["refit"] else \
        "validation split, measured before the final refit"


def run_search_stage(project, folder, data, state, classes, emit, model, split, kind=None,
                     cross_validate: bool = True) -> dict:
    """Fit the head by search; the search report (what the metrics quote). ``kind``: the run's
    ``task_types`` object (single-label when None); a multi-label run also gets per-label thresholds
    chosen on the out-of-fold predictions (model.json ``thresholds``; the report's ``label_report``).
    ``cross_validate=False`` scores on the validation split (a base tuned on the training split would
    flatter their folds)."""
    kind = kind if kind is not None else data.kind
    t, ft = project.training, project.finetune
    source = data.source(1, cached=True, stage_epochs=0)
    entry = source.entry

    def rows(part) -> torch.Tensor:
        return gather_rows(part, torch.arange(part.shape[0])).cpu()

    auto = set(t.auto)
    weights = kind.loss_weight(split.train, bool(t.class_weighted))
    finetunes = bool(ft.enabled and ft.epochs > 0)
    # Fine-tuning validates (and keeps its best epoch) on the validation split: the head it starts
    # from must not have trained on it.
    refit = bool(t.refit) and not finetunes
    curves = SearchCurves()      # the search's charts, live (events) and in the run folder

    def report(event: ev.Event) -> None:
        ev.dispatch(curves, event)
        emit(event)

    result = search_head(
        rows(entry.train_view(0)), source.train_labels, rows(entry.val_rows()), source.val_labels,
        len(classes), lr=None if "lr" in auto else t.lr,
        weight_decay=None if "weight_decay" in auto else t.weight_decay,
        epochs=None if "epochs" in auto else t.epochs, head=None if "head" in auto else project.head,
        refit=refit, batch_size=t.batch_size, seed=t.seed, label_smoothing=float(t.label_smoothing),
        class_weight=weights, train_views=[rows(entry.train_view(v)) for v in range(1, entry.views)],
        cross_validate=cross_validate, job=state.job, report=report, kind=kind)      # picks its threads
    return _finish_search(folder, data.device, state, classes, emit, model, split, result, finetunes, curves, kind)


def _finish_search(folder, device, state, classes, emit, model, split, result, finetunes: bool,
                   curves: SearchCurves, kind) -> dict:
    best = result.best
    spec = HeadSpec(layers=list(best.config.head.layers), num_classes=len(classes))
    head = result.head
    if not finetunes:      # calibrated probabilities for prediction and export: logits / T
        fold_temperature(head, result.temperature)
    model.head = head.to(device)
    report = result.to_dict()
    report["calibration_applied"] = not finetunes
    labelled = list(split.train) + list(split.val)
    probs = kind.probabilities(result.heldout_logits / result.temperature)
    heldout = [kind.heldout_row(labelled[int(i)].path, probs[j], result.heldout_labels[j])
               for j, i in enumerate(result.heldout_index)]
    thresholds = kind.thresholds(probs, result.heldout_labels)
    if thresholds is not None:       # chosen on the out-of-fold predictions, kept by model.json
        report["thresholds"] = thresholds
        report["label_report"] = kind.label_report(probs, result.heldout_labels, thresholds, classes)
    folder.write(rf.SEARCH, report)
    folder.write(rf.HELDOUT, {"source": heldout_source(report), "classes": classes, "predictions": heldout,
                              **({"thresholds": thresholds, **kind.info_fields()} if thresholds is not None else {})})
    # The run's project.json records what was chosen, so running it again reproduces this head.
    snap = folder.project_dict() or {}
    snap.setdefault("training", {}).update({"lr": best.config.lr, "weight_decay": best.config.weight_decay,
                                            "epochs": best.epochs, "auto": []})
    snap["head"] = spec.to_dict()
    snap["search_chose"] = report["winner"]
    folder.write(rf.PROJECT, snap)
    writer = state.writer
    writer.model_info["head"] = spec.to_dict()
    writer.model_info["calibration"] = {"temperature": result.temperature if not finetunes else 1.0,
                                        "fitted_on": report["method"]}
    writer.model_info["trained_on"] = ["train", "val"] if report["refit"] else ["train"]
    if thresholds is not None:
        writer.model_info["thresholds"] = thresholds
    acc, loss = result.heldout_accuracy, result.heldout_loss
    state.best = {"val_acc": acc, "val_loss": loss, "epoch": best.epochs, "stage": 1}
    weights = Snapshotter(model, True)()
    writer.offer_best(weights, 1, best.epochs, acc)
    writer.offer_last({"model": weights, "stage": 1, "epoch": best.epochs, "history": [],
                       "best": dict(state.best), "split": state.split_hash,
                       "early_stopping": {"best": None, "bad": 0, "stopped": True}, "rng": rng_state(),
                       "optimizer": {}, "schedule": {}})
    writer.flush()
    finished = ev.HeadSearchFinished(search=report, table=format_table(report))
    ev.dispatch(curves, finished)
    folder.write(rf.SEARCH_CURVES, curves.to_dict())
    emit(finished)
    return report

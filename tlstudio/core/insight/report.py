"""The data audit: likely label errors, duplicates and outliers of a Project's data, in one report.

``run_audit(project)`` collects the frozen features (``features.collect_features``,
cached) and runs the three analyses on them; ``audit_features`` does the same
on features already collected. ``AuditReport.to_json`` is what the command line
prints (``tlstudio-cli audit --json``) and ``format_report`` its table form.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tlstudio.core.insight.duplicates import NEIGHBOURS, DuplicateGroup, find_duplicates
from tlstudio.core.insight.features import DatasetFeatures, collect_features
from tlstudio.core.insight.label_issues import LabelIssue, find_label_issues
from tlstudio.core.insight.label_set_issues import WRONG, LabelSetIssue, find_label_set_issues
from tlstudio.core.task_types import MultiLabelTask
from tlstudio.core.insight.neighbours import nearest_neighbours
from tlstudio.core.insight.outliers import NEIGHBOURS as OUTLIER_NEIGHBOURS
from tlstudio.core.insight.outliers import Outlier, find_outliers
from tlstudio.core.data.index import UNLABELED
from tlstudio.core.data.modality import modality_for
from tlstudio.core.progress import JobState

UNLABELED_NAME = "unlabeled"     # the label a pool sample shows in the report


@dataclass
class AuditReport:
    """The audit of ``data`` (with the unlabeled pool when it has one: label -1, split "pool")."""

    data: DatasetFeatures
    label_issues: list[LabelIssue]
    duplicates: list[DuplicateGroup]
    outliers: list[Outlier]
    seconds: dict[str, float] = field(default_factory=dict)
    # A multi-label dataset: per (sample, label) issues instead of one class per sample (label_set_issues.py)
    label_set_issues: list[LabelSetIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)       # what was not analysed, and why

    # -- one sample, as the JSON and the GUI show it ---------------------------------
    def where(self, i: int) -> dict[str, Any]:
        """``{"path": file}`` for an image, ``{"row": locator, "text": text}`` for a text."""
        s = self.data.samples[i]
        if s.text is not None:         # a text sample: its row locator and text
            return {"row": self.data.keys[i], "text": s.text or ""}
        return {"path": s.path, "key": self.data.keys[i]}

    def class_name(self, label: int) -> str:
        """The class of ``label``; "unlabeled" for a pool sample."""
        return UNLABELED_NAME if label == UNLABELED else self.data.classes[label]

    def group_json(self, g: DuplicateGroup) -> dict[str, Any]:
        d = self.data
        return {"paths": [d.samples[i].path for i in g.members], "keys": [d.keys[i] for i in g.members],
                "kind": g.kind, "tier": g.tier, "reason": g.reason,
                "closeness": None if g.closeness is None else round(float(g.closeness), 4), "why": g.describe(),
                "straddles_split": g.straddles_split, "labels_differ": g.labels_differ,
                "labels": [self.class_name(int(d.labels[i])) for i in g.members],
                "splits": [d.splits[i] for i in g.members]}

    def _label_sets(self, x: LabelSetIssue) -> dict[str, str]:
        """The sample's label set as given, and with the flagged label added (missing) or removed (wrong):
        label cells ("a;b") a label override can store."""
        sample = self.data.samples[x.index]
        given = set(sample.labels if sample.labels is not None else (sample.label,))
        fixed = given - {x.label} if x.kind == WRONG else given | {x.label}
        cell = lambda labels: ";".join(self.class_name(i) for i in sorted(labels))    # noqa: E731
        return {"given": cell(given), "suggested": cell(fixed)}

    def to_json(self, top: int | None = None, similar: bool = False) -> dict[str, Any]:
        """The report as plain data. ``duplicates`` holds the verified groups; the lower "similar" tier
        (near in feature space only) is added as ``similar`` when asked for, and always counted."""
        d, cut = self.data, (lambda items: items if top is None else items[:top])
        dups = [g for g in self.duplicates if g.tier == "duplicate"]
        alike = [g for g in self.duplicates if g.tier == "similar"]
        out = {
            "task": d.task, "root": d.root, "model": d.model_name, "samples": len(d), "classes": list(d.classes),
            "unlabeled": int((d.labels == UNLABELED).sum()), "notes": list(self.notes),
            "label_issues": [{**self.where(x.index), "given": self.class_name(x.given),
                              "suggested": self.class_name(x.suggested), "score": round(x.score, 4),
                              "split": d.splits[x.index]} for x in cut(self.label_issues)],
            "duplicates": [self.group_json(g) for g in cut(dups)],
            "outliers": [{**self.where(o.index), "label": self.class_name(int(d.labels[o.index])),
                          "nearest": self.class_name(o.nearest) if o.nearest >= 0 else "", "score": round(o.score, 3)}
                         for o in cut(self.outliers)],
            "counts": {"label_issues": len(self.label_issues), "duplicates": len(dups),
                       "leaking_duplicates": sum(g.straddles_split for g in dups), "similar": len(alike),
                       "outliers": len(self.outliers)},
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
        if similar:
            out["similar"] = [self.group_json(g) for g in cut(alike)]
        if self.label_set_issues:
            out["label_set_issues"] = [{**self.where(x.index), "label": self.class_name(x.label), "kind": x.kind,
                                        "probability": round(x.probability, 4), "score": round(x.score, 4),
                                        "split": d.splits[x.index], **self._label_sets(x)}
                                       for x in cut(self.label_set_issues)]
            out["counts"]["label_set_issues"] = len(self.label_set_issues)
        return out


def _phase(job: JobState | None, name: str) -> None:
    if job is not None:
        job.phase = name
        job.set_progress(0, 1)


def audit_features(data: DatasetFeatures, *, seed: int = 0, job: JobState | None = None) -> AuditReport:
    """The three analyses on collected features; ``seconds`` holds each phase's time, and ``job`` (when
    given) names the phase (``JobState.phase``) and gets its progress."""
    seconds = {}
    t0 = time.perf_counter()
    _phase(job, "finding likely label errors")
    issues, set_issues, notes = [], [], []
    if any(s.labels is not None for s in data.samples):      # label sets: per (sample, label)
        targets = MultiLabelTask(len(data.classes)).targets(data.samples).numpy()
        set_issues, _probs = find_label_set_issues(data.features, targets, seed=seed, job=job)
    else:
        issues, notes = _label_issues(data, seed, job)
    t1 = time.perf_counter()
    _phase(job, "finding nearest neighbours")
    neighbours = nearest_neighbours(data.features, max(NEIGHBOURS, OUTLIER_NEIGHBOURS), job)
    t2 = time.perf_counter()
    _phase(job, "checking duplicate candidates")
    groups = find_duplicates(data.samples, data.labels, data.splits, data.features, task=data.task,
                             job=job, neighbours=neighbours)
    t3 = time.perf_counter()
    _phase(job, "scoring outliers")
    outliers = find_outliers(data.features, data.labels, len(data.classes), neighbours=neighbours)
    t4 = time.perf_counter()
    seconds.update(label_issues=t1 - t0, neighbours=t2 - t1, duplicates=t3 - t2, outliers=t4 - t3)
    return AuditReport(data, issues, groups, outliers, seconds, label_set_issues=set_issues, notes=notes)


def _label_issues(data: DatasetFeatures, seed: int, job: JobState | None) -> tuple[list[LabelIssue], list[str]]:
    """Likely label errors among the labelled samples (the pool has no label to doubt); none, with a
    note, when fewer than two classes have two labelled samples each."""
    labelled = np.flatnonzero(data.labels != UNLABELED)
    if len(labelled) == len(data.labels):
        return find_label_issues(data.features, data.labels, len(data.classes), seed=seed, job=job)[0], []
    per_class = np.bincount(data.labels[labelled], minlength=len(data.classes))
    if (per_class >= 2).sum() < 2 or (per_class == 1).any():
        return [], [f"Likely label errors need 2 or more labelled samples in each of 2 classes or more "
                    f"({len(labelled)} labelled); the duplicates and outliers cover all "
                    f"{len(data.labels)} samples, the unlabeled ones too."]
    found, _ = find_label_issues(data.features[labelled], data.labels[labelled], len(data.classes), seed=seed,
                                 job=job)
    return [dataclasses.replace(x, index=int(labelled[x.index])) for x in found], []


def run_audit(project, *, job: JobState | None = None, device=None) -> AuditReport:
    """Collect the project's features (cached) and audit them."""
    t0 = time.perf_counter()
    _phase(job, "")
    data = collect_features(project, job=job, device=device, include_pool=True)
    t1 = time.perf_counter()
    report = audit_features(data, seed=int(project.data.seed), job=job)
    report.seconds = {"features": t1 - t0, **report.seconds, "total": time.perf_counter() - t0}
    return report


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def format_report(report: AuditReport, top: int = 10, similar: bool = False) -> str:
    """Short tables for the terminal: the top label issues, duplicate groups (and the "similar" tier when
    asked for), outliers."""
    j = report.to_json(top, similar=similar)
    c = j["counts"]
    pool = f" ({j['unlabeled']} unlabeled)" if j["unlabeled"] else ""
    lines = [f"Audit of {j['samples']} {modality_for(j['task']).noun}{pool} in {len(j['classes'])} "
             f"classes with {j['model']} ({j['seconds'].get('total', 0):.1f} s)",
             *[f"Note: {note}" for note in j["notes"]],
             f"Likely label errors: {c['label_issues']} (top {min(top, c['label_issues'])} shown)"]
    if j["label_issues"]:
        width = max(len(x["given"]) for x in j["label_issues"] + [{"given": "given"}])
        lines.append(f"  {'score':>5}  {'given':<{width}}  suggested -> sample")
        for x in j["label_issues"]:
            where = f"{x['row']}  {_short(x['text'], 50)}" if "row" in x else x["key"]
            lines.append(f"  {x['score']:5.2f}  {x['given']:<{width}}  {x['suggested']} -> {where}")
    if j.get("label_set_issues"):
        lines.append(f"Likely label-set errors: {c['label_set_issues']} (sample, label) pairs "
                     f"(top {len(j['label_set_issues'])} shown; missing: likely present but not given; "
                     "wrong: given but likely absent)")
        for x in j["label_set_issues"]:
            where = f"{x['row']}  {_short(x['text'], 50)}" if "row" in x else x["key"]
            lines.append(f"  {x['score']:5.2f}  {x['kind']:<7}  {x['label']} -> {where}")
    lines.append(f"Duplicate groups: {c['duplicates']} ({c['leaking_duplicates']} across train/val/test); "
                 f"{c['similar']} more groups only similar in feature space")
    for g in j["duplicates"] + j.get("similar", []):
        flags = ", ".join(f for f, on in (("across splits", g["straddles_split"]),
                                          ("labels differ", g["labels_differ"])) if on)
        lines.append(f"  {g['kind']:<5} {', '.join(g['keys'][:4])}{' …' if len(g['keys']) > 4 else ''}"
                     f"  ({g['why']})" + (f"  [{flags}]" if flags else ""))
    lines.append(f"Outliers: {c['outliers']}")
    for o in j["outliers"]:
        lines.append(f"  {o['score']:5.1f}  {o['label']} (nearest: {o['nearest'] or '-'}) -> "
                     f"{o.get('row', o.get('key'))}")
    return "\n".join(lines)

"""What a head search found: its configurations, their held-out scores, the winner, as data and as a table.

``SearchResult.to_dict()`` is what a run folder's search.json holds;
``format_table`` prints it (CLI, Train tab).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from tlstudio.core.model.head import HeadSpec
from tlstudio.core.task_types import SingleLabelTask


@dataclass
class SearchConfig:
    lr: float
    weight_decay: float
    head: HeadSpec

    def head_label(self) -> str:
        widths = [layer.width for layer in self.head.layers if layer.type == "linear"]
        if not self.head.layers:
            return "linear"
        if widths:
            return "hidden " + "-".join(str(w) for w in widths)
        return "custom"

    def to_dict(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay, "head": self.head_label(),
                "head_spec": self.head.to_dict()}


@dataclass
class Trial:
    config: SearchConfig
    score_loss: float        # mean held-out log-loss over folds
    score_acc: float         # held-out accuracy (all out-of-fold predictions pooled)
    epochs: int              # median early-stopped epoch count (or the explicit count)
    seconds: float           # this configuration's share of its group's training time

    def to_dict(self) -> dict:
        return {**self.config.to_dict(), "cv_loss": self.score_loss, "cv_accuracy": self.score_acc,
                "epochs": self.epochs, "seconds": round(self.seconds, 3)}


@dataclass
class SearchResult:
    trials: list[Trial]
    winner: int
    method: str                       # "5-fold cross-validation" or "validation split"
    folds: int                        # 1 for the validation split
    refit: bool                       # the final head trained on train + validation
    fit_samples: int                  # samples the final head trained on
    heldout_index: torch.Tensor       # labelled-sample indices that have a held-out prediction
    heldout_logits: torch.Tensor      # the winner's held-out logits for them (before temperature)
    heldout_labels: torch.Tensor
    head: nn.Sequential               # the final head on raw features (no temperature folded in)
    temperature: float = 1.0
    ece_before: float = float("nan")
    ece_after: float = float("nan")
    seconds: float = 0.0
    explicit: list[str] = field(default_factory=list)
    kind: SingleLabelTask | None = None     # task_types' object the search used (None: single-label)

    @property
    def kind_object(self) -> SingleLabelTask:
        return self.kind if self.kind is not None else SingleLabelTask(self.heldout_logits.shape[-1])

    @property
    def best(self) -> Trial:
        return self.trials[self.winner]

    @property
    def heldout_accuracy(self) -> float:
        return self.kind_object.tuned_score(self.heldout_logits, self.heldout_labels)

    @property
    def heldout_loss(self) -> float:
        return float(self.kind_object.per_sample_loss(self.heldout_logits, self.heldout_labels).mean())

    def table(self) -> list[dict]:
        return [{**trial.to_dict(), "winner": i == self.winner} for i, trial in enumerate(self.trials)]

    def to_dict(self) -> dict:
        """What search.json holds (no tensors)."""
        best = self.best
        return {"method": self.method, "folds": self.folds, "refit": self.refit, "fit_samples": self.fit_samples,
                "seconds": round(self.seconds, 3), "explicit": list(self.explicit),
                "winner": {**best.config.to_dict(), "epochs": best.epochs},
                "heldout_accuracy": self.heldout_accuracy, "heldout_loss": self.heldout_loss,
                "heldout_samples": int(self.heldout_labels.shape[0]), "score": self.kind_object.score_name,
                "temperature": self.temperature, "ece_before": self.ece_before, "ece_after": self.ece_after,
                "trials": self.table()}


def format_table(search: dict) -> str:
    """The search as a compact text table (from ``SearchResult.to_dict()`` or search.json)."""
    score = "CV" if search.get("folds", 1) > 1 else "val"
    metric = " F1" if search.get("score") == "micro-F1" else " acc"
    lines = [f"Head search ({search['method']}, {search['seconds']:.1f} s):",
             f"  {'head':<11} {'lr':>7} {'wd':>7} {'epochs':>6} {score + metric:>7} {score + ' loss':>8} {'time':>6}"]
    for row in search["trials"]:
        mark = "  <- winner" if row["winner"] else ""
        lines.append(f"  {row['head']:<11} {row['lr']:>7.0e} {row['weight_decay']:>7.0e} {row['epochs']:>6d} "
                     f"{row['cv_accuracy']:>7.3f} {row['cv_loss']:>8.3f} {row['seconds']:>5.1f}s{mark}")
    where = "all labelled samples" if search["refit"] else "the train split"
    lines.append(f"  refit on {where} ({search['fit_samples']}); temperature {search['temperature']:.2f}, "
                 f"ECE {search['ece_before']:.3f} -> {search['ece_after']:.3f} (held-out)")
    return "\n".join(lines)


__all__ = ["SearchConfig", "SearchResult", "Trial", "format_table"]

"""The task type as a training object: targets, loss, score and fold layout, one class per type.

``task_for(task_type, num_classes)`` returns the object a run uses (the registry); the trainer, the
epoch loop, the batched head trainer and the head search call it and never ask which type they serve.
They hold it as ``kind`` (``kind=`` parameters): the word "task" means the modality, and the job
state (``core.progress.JobState``) is ``job``.

- ``SingleLabelTask``: one class per sample; targets are class indices; softmax cross-entropy
  (class weights, label smoothing); score = accuracy.
- ``MultiLabelTask``: a label set per sample (``Sample.labels``); targets are N×L 0/1 floats; one
  sigmoid per label with binary cross-entropy (``class_weighted`` gives each label the positive
  weight negatives/positives of the training samples, capped at ``MAX_POS_WEIGHT``). Its scores:
  ``hits`` (per sample, for the running training figure and the search's charts) is the Jaccard
  agreement of the label sets at 0.5 (example-based accuracy); ``score`` of a whole set is the
  micro-F1 at 0.5 (the epoch loop's validation figure) and ``tuned_score`` the micro-F1 at the
  per-label thresholds that maximise each label's F1 on those very predictions (what the head
  search ranks candidates by: the thresholds are tuned on the same out-of-fold predictions
  afterwards, so this is the figure the saved model aims at).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from tlstudio.core.data.index import Sample, class_weights
from tlstudio.core.calibration import expected_calibration_error, fit_temperature

MAX_POS_WEIGHT = 10.0
ECE_BINS = 15


class SingleLabelTask:
    name = "single"
    score_name = "accuracy"
    needs_thresholds = False      # per-label decision thresholds are chosen after training

    def __init__(self, num_classes: int):
        self.num_classes = int(num_classes)

    def targets(self, samples: Sequence[Sample]) -> torch.Tensor:
        return torch.tensor([int(s.label) for s in samples], dtype=torch.long)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor, *, weight: torch.Tensor | None = None,
                        label_smoothing: float = 0.0) -> torch.Tensor:
        """Loss per sample: ``logits`` [..., C], ``y`` [n] broadcast over the leading dims -> [...]."""
        lead = logits.shape[:-1]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.expand(lead).reshape(-1), weight=weight,
                               label_smoothing=label_smoothing, reduction="none").view(lead)

    def hits(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (logits.argmax(-1) == y).float()

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        return int((logits.argmax(-1) == y).sum()) / y.shape[0] if y.shape[0] else float("nan")

    tuned_score = score

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    def loss_weight(self, samples: Sequence[Sample], weighted: bool) -> torch.Tensor | None:
        return torch.tensor(class_weights(samples, self.num_classes), dtype=torch.float32) if weighted else None

    def criterion(self, weight: torch.Tensor | None, label_smoothing: float) -> nn.Module:
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=float(label_smoothing))

    def cross_validates(self, y: torch.Tensor) -> bool:
        """Whether ``y`` can be cross-validated: every class up to the highest has two samples."""
        return int(torch.bincount(y).min()) >= 2

    def fold_count(self, y: torch.Tensor, wanted: int) -> int:
        """Folds for ``y``: ``wanted``, or fewer when the smallest class is smaller."""
        counts = torch.bincount(y)
        return min(wanted, int(counts[counts > 0].min()))

    def folds(self, y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
        """A fold number in [0, k) for each sample, classes spread evenly over the folds."""
        g = torch.Generator().manual_seed(int(seed) + 7919)
        fold = torch.empty(y.numel(), dtype=torch.long)
        offset = 0
        for c in torch.unique(y).tolist():
            idx = torch.nonzero(y == c).flatten()
            idx = idx[torch.randperm(idx.numel(), generator=g)]
            fold[idx] = (torch.arange(idx.numel()) + offset) % k
            offset += idx.numel()
        return fold

    def calibrate(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
        """(temperature, ECE before, ECE after) of held-out logits."""
        t = fit_temperature(logits, y)
        return t, expected_calibration_error(logits, y), expected_calibration_error(logits / t, y)

    def wrap_dataset(self, dataset, samples: Sequence[Sample]):
        return dataset

    def wrap_collate(self, collate: Callable | None) -> Callable | None:
        return collate

    # -- what a run records --------------------------------------------------------------
    def info_fields(self) -> dict:
        """Keys model.json gets for this task (none: single-label files stay as they were)."""
        return {}

    def heldout_row(self, path: str, probs: torch.Tensor, y: torch.Tensor) -> dict:
        """One out-of-fold prediction as heldout.json stores it."""
        return {"path": path, "true": int(y), "predicted": int(probs.argmax()), "confidence": float(probs.max())}

    def thresholds(self, probs: torch.Tensor, y: torch.Tensor) -> list[float] | None:
        return None

    def label_report(self, probs: torch.Tensor, y: torch.Tensor, thresholds, classes: Sequence[str]) -> dict:
        """Extra figures for metrics.json (multi-label: ``{"multilabel": MultilabelMetrics.to_dict()}``)."""
        return {}

    def test_figures(self, logits: torch.Tensor, y: torch.Tensor, thresholds) -> dict:
        return {"test_accuracy": self.score(logits, y), "test_loss": float(self.per_sample_loss(logits, y).mean()),
                "test_ece": expected_calibration_error(logits, y)}


class TargetDataset:
    """A modality's dataset with item ``k``'s target replaced by ``targets[k % n]`` (a label set)."""

    def __init__(self, dataset, targets: torch.Tensor):
        self.dataset, self.targets = dataset, targets
        self.datasets = [dataset]         # what batch_order looks through (text: length buckets)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, k: int):
        x, _ = self.dataset[k]
        return x, self.targets[int(k) % len(self.targets)]

    def lengths(self):
        return self.dataset.lengths()


class TargetCollate:
    """The modality's collate for the inputs; the label-set targets stacked."""

    def __init__(self, collate: Callable | None):
        self.collate = collate

    def __call__(self, items: list):
        from torch.utils.data import default_collate

        inputs = (self.collate or default_collate)([(x, 0) for x, _ in items])[0]
        return inputs, torch.stack([y for _, y in items])


class MultiLabelTask(SingleLabelTask):
    name = "multilabel"
    score_name = "micro-F1"
    needs_thresholds = True

    def targets(self, samples: Sequence[Sample]) -> torch.Tensor:
        y = torch.zeros(len(samples), self.num_classes)
        for row, s in enumerate(samples):
            y[row, list(s.labels if s.labels is not None else (s.label,))] = 1.0
        return y

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor, *, weight: torch.Tensor | None = None,
                        label_smoothing: float = 0.0) -> torch.Tensor:
        """Mean binary cross-entropy over the labels; ``weight``: per-label positive weights."""
        target = y.expand(logits.shape)
        if label_smoothing:
            target = target * (1 - label_smoothing) + 0.5 * label_smoothing
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight, reduction="none").mean(-1)

    def hits(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        predicted, true = logits > 0, y.expand(logits.shape) > 0.5
        union = (predicted | true).sum(-1)
        both = (predicted & true).sum(-1)
        return torch.where(union > 0, both / union.clamp(min=1), torch.ones_like(both, dtype=torch.float32))

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        predicted, true = logits > 0, y > 0.5
        tp = float((predicted & true).sum())
        wrong = float((predicted ^ true).sum())
        return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0

    def tuned_score(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        from tlstudio.core.runs.multilabel_metrics import best_thresholds, predicted_matrix

        probs = torch.sigmoid(logits.float()).numpy()
        true = (y > 0.5).numpy()
        predicted = predicted_matrix(probs, best_thresholds(probs, true))
        tp = float((predicted & true).sum())
        wrong = float((predicted ^ true).sum())
        return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def loss_weight(self, samples: Sequence[Sample], weighted: bool) -> torch.Tensor | None:
        if not weighted:
            return None
        y = self.targets(samples)
        positives = y.sum(0)
        return ((y.shape[0] - positives) / positives.clamp(min=1)).clamp(min=1.0, max=MAX_POS_WEIGHT)

    def criterion(self, weight: torch.Tensor | None, label_smoothing: float) -> nn.Module:
        return LabelSetLoss(self, weight, label_smoothing)

    def cross_validates(self, y: torch.Tensor) -> bool:
        return y.shape[0] >= 4

    def fold_count(self, y: torch.Tensor, wanted: int) -> int:
        return max(1, min(wanted, y.shape[0] // 2))

    def folds(self, y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
        """Samples ordered by their rarest label (seeded chance within), dealt round-robin: each
        label's samples spread over the folds as evenly as the other labels allow."""
        g = torch.Generator().manual_seed(int(seed) + 7919)
        counts = y.sum(0)
        rarest = torch.where(y > 0.5, counts.expand_as(y), torch.full_like(y, float("inf"))).min(1)
        label = torch.where(y > 0.5, counts.expand_as(y), torch.full_like(y, float("inf"))).argmin(1)
        shuffle = torch.randperm(y.shape[0], generator=g)
        keys = sorted(shuffle.tolist(), key=lambda i: (float(rarest.values[i]), int(label[i])))
        fold = torch.empty(y.shape[0], dtype=torch.long)
        fold[torch.tensor(keys, dtype=torch.long)] = torch.arange(len(keys)) % k
        return fold

    def calibrate(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
        """No temperature (each label's threshold does that job); the ECE of every (sample, label)
        probability as a binary forecast."""
        p = torch.sigmoid(logits.float()).flatten()
        hit = (y > 0.5).float().flatten()
        if p.numel() == 0:
            return 1.0, float("nan"), float("nan")
        which = torch.clamp((p * ECE_BINS).long(), max=ECE_BINS - 1)
        gap = (torch.zeros(ECE_BINS).index_add_(0, which, p) - torch.zeros(ECE_BINS).index_add_(0, which, hit))
        ece = float(gap.abs().sum() / p.numel())
        return 1.0, ece, ece

    def info_fields(self) -> dict:
        return {"task_type": self.name}

    def heldout_row(self, path: str, probs: torch.Tensor, y: torch.Tensor) -> dict:
        return {"path": path, "true": [int(i) for i in torch.nonzero(y > 0.5).flatten()],
                "probabilities": [round(float(p), 6) for p in probs]}

    def thresholds(self, probs: torch.Tensor, y: torch.Tensor) -> list[float] | None:
        from tlstudio.core.runs.multilabel_metrics import best_thresholds

        return [float(t) for t in best_thresholds(probs.float().numpy(), (y > 0.5).numpy())]

    def label_report(self, probs: torch.Tensor, y: torch.Tensor, thresholds, classes: Sequence[str]) -> dict:
        from tlstudio.core.runs.multilabel_metrics import multilabel_metrics

        return {"multilabel": multilabel_metrics(probs.float().numpy(), (y > 0.5).numpy(), thresholds,
                                                 list(classes)).to_dict()}

    def test_figures(self, logits: torch.Tensor, y: torch.Tensor, thresholds) -> dict:
        from tlstudio.core.runs.multilabel_metrics import multilabel_metrics

        m = multilabel_metrics(torch.sigmoid(logits).numpy(), (y > 0.5).numpy(), thresholds,
                               [str(i) for i in range(y.shape[1])])
        return {"test_micro_f1": m.micro_f1, "test_macro_f1": m.macro_f1, "test_mean_ap": m.mean_ap,
                "test_subset_accuracy": m.subset_accuracy, "test_loss": float(self.per_sample_loss(logits, y).mean())}

    def wrap_dataset(self, dataset, samples: Sequence[Sample]):
        return TargetDataset(dataset, self.targets(samples))

    def wrap_collate(self, collate: Callable | None) -> Callable | None:
        return TargetCollate(collate)


class LabelSetLoss(nn.Module):
    """Binary cross-entropy over the label sets, mean over labels and samples (weights move with .to())."""

    def __init__(self, kind: MultiLabelTask, pos_weight: torch.Tensor | None, label_smoothing: float):
        super().__init__()
        self.kind, self.label_smoothing = kind, float(label_smoothing)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.kind.per_sample_loss(logits, y, weight=self.pos_weight,
                                         label_smoothing=self.label_smoothing).mean()


_TASKS = {SingleLabelTask.name: SingleLabelTask, MultiLabelTask.name: MultiLabelTask}


def task_for(task_type: str | None, num_classes: int) -> SingleLabelTask:
    """The task object of ``task_type`` ("single", "multilabel"; None: single)."""
    return _TASKS[task_type or SingleLabelTask.name](num_classes)

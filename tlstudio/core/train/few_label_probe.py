"""Will contrastive tuning pay? A probe on the frozen base's features of the labelled samples.

Contrastive tuning (``contrastive.py``) costs minutes on a CPU. It pays where the frozen
encoder's geometry does not already separate the classes -- labels that are not the text's
topic -- and barely matters where it does (benchmarks/bench_fewshot.py). The probe says
which: the leave-one-out accuracy of a nearest-class-mean classifier (cosine, a linear head
with a closed form) on the training samples' frozen features. Each sample is scored against
its own class's mean without itself, so the figure is out-of-fold, it costs one forward pass
over the few labelled samples (which the tuning makes anyway) and no fitting, and it has no
seed. ``skill`` puts it on one scale for any class count: the share of the way from chance
(one in the number of classes) to all right.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ProbeResult:
    accuracy: float          # leave-one-out nearest-class-mean accuracy on the labelled samples
    samples: int
    classes: int

    @property
    def skill(self) -> float:
        """(accuracy - chance) / (1 - chance), chance = 1 / classes."""
        chance = 1.0 / max(2, self.classes)
        return (self.accuracy - chance) / (1.0 - chance)

    def accuracy_for(self, skill: float) -> float:
        """The accuracy at ``skill`` with this probe's class count."""
        chance = 1.0 / max(2, self.classes)
        return chance + skill * (1.0 - chance)

    def to_dict(self) -> dict:
        return {"probe": "leave-one-out nearest class mean (cosine), frozen features",
                "accuracy": round(self.accuracy, 4), "skill": round(self.skill, 4), "samples": self.samples,
                "classes": self.classes}


def leave_one_out_centroid_accuracy(features: torch.Tensor, labels: torch.Tensor) -> ProbeResult:
    """Accuracy of assigning each sample to the nearest class mean (cosine of L2-normalised
    features), its own class's mean computed without it. Classes with one sample still count
    as candidates for the others but their own sample cannot be scored and is skipped."""
    z = nn.functional.normalize(features.float(), dim=1)
    y = labels.long().view(-1)
    classes = torch.unique(y)
    onehot = (y.view(-1, 1) == classes.view(1, -1)).float()          # [n, C]
    sums = onehot.T @ z                                                 # [C, d]
    counts = onehot.sum(0)                                              # [C]
    sims = z @ nn.functional.normalize(sums, dim=1).T                   # [n, C]
    own = onehot.argmax(1)
    rest = sums[own] - z                                                # own class mean without the sample
    own_sim = (z * nn.functional.normalize(rest, dim=1)).sum(1)
    sims = sims.scatter(1, own.view(-1, 1), own_sim.view(-1, 1))
    scored = counts[own] > 1
    if not bool(scored.any()):
        return ProbeResult(accuracy=0.0, samples=0, classes=len(classes))
    correct = (sims.argmax(1) == own)[scored]
    return ProbeResult(accuracy=float(correct.float().mean()), samples=int(scored.sum()), classes=len(classes))

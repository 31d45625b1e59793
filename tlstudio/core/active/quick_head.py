"""A linear head fitted in a fraction of a second, for ranking and re-ranking an unlabeled pool.

Multinomial logistic regression on standardised features, fitted full-batch
with L-BFGS and an L2 penalty (a few hundred labelled rows and a thousand
features take tens of milliseconds). The standardisation comes from a
*reference* set -- the labelled and the unlabeled features together -- since
twenty labelled rows say little about each feature's spread. This is not the
head a training run searches for; it is the cheap stand-in that says how
unsure the model is about each pool sample and what it would call it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tlstudio.core.threads import intra_op_threads

WEIGHT_DECAY = 1e-2          # the L2 penalty on the weights (per mean log-loss); see benchmarks/bench_active.py
MAX_ITER = 100               # L-BFGS iterations (it converges well before on a few hundred rows)
FOLDS = 5
MIN_FOR_ESTIMATE = 10        # fewer labelled samples give no accuracy estimate


@dataclass
class QuickHead:
    """Fitted weights over standardised features; ``classes`` are the label values it was fitted on."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor      # [d, c]
    bias: torch.Tensor        # [c]
    num_classes: int

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """[n, num_classes] class probabilities (classes never labelled get almost none)."""
        x = (torch.as_tensor(np.asarray(features, dtype=np.float32)) - self.mean) / self.std
        with torch.no_grad():
            return torch.softmax(x @ self.weight + self.bias, dim=1).numpy()


def reference_scale(reference: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and spread of ``reference`` (spreads floored at their median, as the head search does)."""
    x = torch.as_tensor(np.asarray(reference, dtype=np.float32))
    std = x.std(0, unbiased=False)
    return x.mean(0), std.clamp(min=max(float(std.median()), 1e-6))


def fit_quick_head(features: np.ndarray, labels: np.ndarray, num_classes: int, *,
                   scale: tuple[torch.Tensor, torch.Tensor] | None = None,
                   weight_decay: float = WEIGHT_DECAY, max_iter: int = MAX_ITER) -> QuickHead:
    """Fit on ``features`` [n, d] with integer ``labels`` in [0, num_classes); ``scale`` from
    ``reference_scale`` (default: the features' own)."""
    mean, std = scale if scale is not None else reference_scale(features)
    x = (torch.as_tensor(np.asarray(features, dtype=np.float32)) - mean) / std
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    weight = torch.zeros(x.shape[1], num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    # One thread: the steps are tiny, and more threads only wait on each other (core/threads.py).
    with intra_op_threads(1):
        opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(x @ weight + bias, y) + weight_decay * (weight ** 2).sum() / 2
            loss.backward()
            return loss

        opt.step(closure)
    return QuickHead(mean, std, weight.detach(), bias.detach(), int(num_classes))


def estimate_accuracy(features: np.ndarray, labels: np.ndarray, num_classes: int, *,
                      scale: tuple[torch.Tensor, torch.Tensor] | None = None, seed: int = 0) -> float | None:
    """Cross-validated accuracy of the quick head on the labelled samples (None below
    ``MIN_FOR_ESTIMATE`` of them or with one class): a rough guide to how well it would label the pool.

    Labelled samples chosen by active learning are harder than a random draw, so this estimate
    is pessimistic while the labelled set is small."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) < MIN_FOR_ESTIMATE or len(np.unique(labels)) < 2:
        return None
    order = np.random.default_rng(seed).permutation(len(labels))
    folds = np.array_split(order, min(FOLDS, len(labels)))
    correct = 0
    for held in folds:
        keep = np.setdiff1d(order, held)
        head = fit_quick_head(features[keep], labels[keep], num_classes, scale=scale)
        correct += int((head.probabilities(features[held]).argmax(1) == labels[held]).sum())
    return correct / len(labels)

"""Calibrated probabilities: the expected calibration error and temperature scaling.

A temperature ``T`` is fitted on held-out (out-of-fold or validation) logits by
minimising the log-loss of ``logits / T``; ``fold_temperature`` divides a head's
output layer by ``T``, so every consumer of the saved model (prediction,
export) gets the calibrated probabilities; the arg-max never changes.
Pure torch on logits: any modality.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ECE_BINS = 15
# A temperature below 1 sharpens; held-out predictions that are all right would drive it towards 0,
# which only makes new mistakes confident: it stays within these bounds.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.25, 10.0
GOLDEN_STEPS = 60


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    if labels.numel() == 0:
        return float("nan")
    probs = torch.softmax(logits.float(), dim=1)
    conf, pred = probs.max(1)
    correct = (pred == labels).float()
    which = torch.clamp((conf * bins).long(), max=bins - 1)
    conf_sum = torch.zeros(bins).index_add_(0, which, conf)
    acc_sum = torch.zeros(bins).index_add_(0, which, correct)
    return float((conf_sum - acc_sum).abs().sum() / labels.numel())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature minimising the log-loss of ``logits / T`` (golden-section search on log T)."""
    logits, labels = logits.float(), labels.long()
    if labels.numel() == 0:
        return 1.0

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), labels))

    lo, hi = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(GOLDEN_STEPS):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    best = (lo + hi) / 2
    return math.exp(best) if nll(best) <= nll(0.0) else 1.0


def fold_temperature(head: nn.Module, temperature: float) -> None:
    """Divide the head's output layer by ``temperature`` (logits / T), in place."""
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.div_(temperature)
        last.bias.div_(temperature)


__all__ = ["ECE_BINS", "MAX_TEMPERATURE", "MIN_TEMPERATURE", "expected_calibration_error", "fit_temperature",
           "fold_temperature"]

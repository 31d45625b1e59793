"""Many small heads trained at once: stacked weights, batched matmuls, one Adam for all.

The head search trains every configuration on every fold together: ``m``
independent heads of one shape, layer i being ``x @ W[m] + b[m]``. Each head has
its own learning rate and weight decay, its own training and validation rows
(boolean masks over the shared samples) and its own early stopping.

A head that has stopped (``PATIENCE`` epochs without a lower validation loss)
leaves the batch: its tensors and optimiser state are dropped, so the heads
still learning no longer pay for it, and the group's cost follows the heads
that are still learning instead of ``m`` times the slowest. Once
``GROUP_STOP_SHARE`` of the heads have stopped the group ends: it does not wait
for the slowest.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from tlstudio.core.model.head import HeadLayer, HeadSpec

PATIENCE = 10                # epochs without a lower validation loss before a head stops
# Once this share of a search group's heads has stopped, the group ends: the few heads still creeping
# down (almost always the strongest weight decay) keep their best epoch so far. With few heads
# left a step costs its fixed overhead, so these stragglers cost as much as the rest together.
GROUP_STOP_SHARE = 2 / 3
SEARCHABLE_LAYERS = ("linear", "activation", "dropout")
BETAS, EPS = (0.9, 0.999), 1e-8


def searchable(spec: HeadSpec) -> bool:
    """Whether the batched trainer fits this head (linear, activation and dropout layers only)."""
    return all(layer.type in SEARCHABLE_LAYERS for layer in spec.layers)


class BatchedHeads:
    """``m`` independent heads of one shape, as stacked tensors: layer i is ``x @ W[m] + b[m]``."""

    def __init__(self, spec: HeadSpec, in_features: int, num_classes: int, m: int, generator: torch.Generator):
        self.ops: list[tuple] = []
        self.params: list[torch.Tensor] = []
        self.decay: list[bool] = []
        width = in_features
        for layer in list(spec.layers) + [HeadLayer("linear", width=num_classes)]:
            if layer.type == "linear":
                bound = 1.0 / math.sqrt(width)       # nn.Linear's default initialisation
                w = (torch.rand(m, width, layer.width, generator=generator) * 2 - 1) * bound
                b = (torch.rand(m, 1, layer.width, generator=generator) * 2 - 1) * bound
                self.ops.append(("linear", len(self.params)))
                self.params += [w.requires_grad_(), b.requires_grad_()]
                self.decay += [True, False]
                width = layer.width
            elif layer.type == "activation":
                self.ops.append(("act", getattr(F, str(layer.activation).lower())))
            elif layer.type == "dropout":
                self.ops.append(("dropout", float(layer.p)))

    @property
    def count(self) -> int:
        return int(self.params[0].shape[0])

    def __call__(self, x: torch.Tensor, train: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x``: [n, d] shared by all heads, or [m, n, d]; returns [m, n, classes]."""
        h = x
        for op, arg in self.ops:
            if op == "linear":
                w, b = self.params[arg], self.params[arg + 1]
                if h.dim() == 3:
                    h = torch.baddbmm(b, h, w)
                else:      # one GEMM for all heads: [n, d] x [d, m * k]
                    m, d, k = w.shape
                    h = (h @ w.permute(1, 0, 2).reshape(d, m * k)).view(-1, m, k).transpose(0, 1) + b
            elif op == "act":
                h = arg(h)
            elif op == "dropout" and train and arg > 0:
                keep = (torch.rand(h.shape, generator=generator) >= arg).to(h.dtype)
                h = h * keep / (1 - arg)
        return h

    def snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    def keep(self, which: torch.Tensor) -> None:
        """Keep only the heads where ``which`` is set (the others have stopped learning)."""
        self.params = [p.detach()[which].requires_grad_() for p in self.params]

    def export(self, i: int, spec: HeadSpec, in_features: int, num_classes: int, params=None,
               basis: torch.Tensor | None = None) -> nn.Sequential:
        """Head ``i`` as the nn.Sequential ``spec.build`` makes; a head trained on ``x @ basis``
        gets the basis folded into its first layer, so it takes the full features."""
        params = self.params if params is None else params
        head = spec.build(in_features, num_classes)
        linears = [m for m in head if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for n, (lin, (op, arg)) in enumerate(zip(linears, [o for o in self.ops if o[0] == "linear"])):
                w = params[arg][i]
                if n == 0 and basis is not None:
                    w = basis @ w
                lin.weight.copy_(w.T)
                lin.bias.copy_(params[arg + 1][i, 0])
        return head


class BatchedAdam:
    """Adam with a learning rate and an L2 penalty per head (coupled, as torch's Adam ``weight_decay``)."""

    def __init__(self, params: list[torch.Tensor], decay: list[bool], lrs: torch.Tensor, wds: torch.Tensor):
        self.decay = decay
        self.moments = [torch.zeros_like(p) for p in params]
        self.squares = [torch.zeros_like(p) for p in params]
        self.lrs, self.wds = lrs.view(-1, 1, 1).clone(), wds.view(-1, 1, 1).clone()
        self.steps = 0

    def step(self, params: list[torch.Tensor], grads: tuple[torch.Tensor, ...]) -> None:
        beta1, beta2 = BETAS
        self.steps += 1
        scale = self.lrs / (1 - beta1 ** self.steps)             # [m, 1, 1]
        root = math.sqrt(1 - beta2 ** self.steps)
        with torch.no_grad():
            for p, grad, mom, sq, decay in zip(params, grads, self.moments, self.squares, self.decay):
                if decay:
                    grad = torch.addcmul(grad, self.wds, p)
                mom.lerp_(grad, 1 - beta1)
                sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = sq.sqrt().div_(root).add_(EPS)
                p.addcdiv_(mom * scale, denom, value=-1.0)

    def keep(self, which: torch.Tensor) -> None:
        self.moments = [t[which] for t in self.moments]
        self.squares = [t[which] for t in self.squares]
        self.lrs, self.wds = self.lrs[which], self.wds[which]


@dataclass
class GroupFit:
    best_epoch: torch.Tensor      # [m] epoch of the lowest validation loss (the last epoch without validation)
    best_loss: torch.Tensor       # [m]
    best_logits: torch.Tensor     # [m, n, classes] validation logits at the best epoch
    heads: BatchedHeads
    best_params: list[torch.Tensor]
    seconds: float
    head_epochs: int = 0          # epochs trained, summed over the heads (the group's cost)


def train_group(x: torch.Tensor, y: torch.Tensor, train_mask: torch.Tensor, val_mask: torch.Tensor | None,
                spec: HeadSpec, lrs: torch.Tensor, wds: torch.Tensor, *, epochs: int, early_stop: bool,
                batch_size: int, seed: int, num_classes: int, class_weight: torch.Tensor | None,
                label_smoothing: float, check: Callable[[], None], stop_share: float = 1.0) -> GroupFit:
    """Train ``m = len(lrs)`` heads of shape ``spec`` at once with Adam.

    Head j trains on the samples where ``train_mask[j]`` is set and is validated
    each epoch (log-loss) on those where ``val_mask[j]`` is set; with
    ``early_stop`` it stops after ``PATIENCE`` epochs without improvement (and
    leaves the batch) and its best-epoch weights are kept. Once ``stop_share`` of
    the heads have stopped the group ends (the search passes ``GROUP_STOP_SHARE``;
    the default 1.0 waits for every head).
    """
    t0 = time.perf_counter()
    m, n = train_mask.shape
    g = torch.Generator().manual_seed(int(seed))
    heads = BatchedHeads(spec, x.shape[1], num_classes, m, g)
    adam = BatchedAdam(heads.params, heads.decay, lrs.float(), wds.float())
    tmask = train_mask.float()
    vmask = val_mask.float() if val_mask is not None else None
    best_loss = torch.full((m,), float("inf"))
    best_epoch = torch.full((m,), epochs, dtype=torch.long)
    best_logits = torch.zeros(m, n, num_classes)
    best_params = heads.snapshot()
    live = torch.arange(m)            # the heads still learning
    bad = torch.zeros(m, dtype=torch.long)
    head_epochs = 0
    for epoch in range(1, epochs + 1):
        head_epochs += int(live.numel())
        order = torch.randperm(n, generator=g)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            w = tmask[:, idx]
            count = w.sum(1)
            if float(count.sum()) == 0:
                continue
            logits = heads(x[idx], train=True, generator=g)
            k = logits.shape[0]
            per = F.cross_entropy(logits.reshape(-1, num_classes), y[idx].repeat(k), weight=class_weight,
                                  label_smoothing=label_smoothing, reduction="none").view(k, -1)
            loss = ((per * w).sum(1) / count.clamp(min=1)).sum()
            adam.step(heads.params, torch.autograd.grad(loss, heads.params))
        check()
        if vmask is None or not early_stop and epoch < epochs:
            continue
        with torch.no_grad():
            logits = heads(x, train=False)
            k = logits.shape[0]
            per = F.cross_entropy(logits.reshape(-1, num_classes), y.repeat(k), reduction="none").view(k, n)
            val_loss = (per * vmask).sum(1) / vmask.sum(1).clamp(min=1)
        better = val_loss < best_loss[live]
        if early_stop or epoch == epochs:
            improved = live[better]
            best_loss[improved] = val_loss[better]
            best_epoch[improved] = epoch
            best_logits[improved] = logits[better]
            for bp, p in zip(best_params, heads.params):
                bp[improved] = p.detach()[better]
        if early_stop:
            bad[live] = torch.where(better, torch.zeros_like(bad[live]), bad[live] + 1)
            going = bad[live] < PATIENCE
            if not bool(going.any()) or m - int(going.sum()) >= stop_share * m:
                break
            if not bool(going.all()):       # stopped heads leave the batch
                live = live[going]
                heads.keep(going)
                adam.keep(going)
                tmask, vmask = tmask[going], vmask[going]
    if vmask is None:
        best_params = heads.snapshot()
    return GroupFit(best_epoch, best_loss, best_logits, heads, best_params, time.perf_counter() - t0, head_epochs)


__all__ = ["GROUP_STOP_SHARE", "PATIENCE", "BatchedAdam", "BatchedHeads", "GroupFit", "searchable", "train_group"]

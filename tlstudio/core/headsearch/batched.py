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
from tlstudio.core.progress import JobState, check
from tlstudio.core.task_types import SingleLabelTask
from tlstudio.core.threads import threads_for_step

PATIENCE = 10                # epochs without a lower validation loss before a head stops
# Once this share of a search group's heads has stopped, the group ends: the few heads still creeping
# down (almost always the strongest weight decay) keep their best epoch so far. With few heads
# left a step costs its fixed overhead, so these stragglers cost as much as the rest together.
GROUP_STOP_SHARE = 2 / 3
SEARCHABLE_LAYERS = ("linear", "activation", "dropout")
BETAS, EPS = (0.9, 0.999), 1e-8
_FUSED = getattr(torch, "_fused_adam_", None)      # torch's fused Adam kernel (private; absent: unfused)


def searchable(spec: HeadSpec) -> bool:
    """Whether the batched trainer fits this head (linear, activation and dropout layers only)."""
    return all(layer.type in SEARCHABLE_LAYERS for layer in spec.layers)


def _shared_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x @ w[j] + b[j]`` for every head j of ``w`` [m, d, c], as one [n, d] x [d, m * c] matmul:
    m small matmuls of c (a class count) columns each run ~5x slower on a CPU than one wide one
    (measured on 30 linear heads of 1280 features, forward + backward)."""
    m, d, c = w.shape
    wide = w.permute(1, 0, 2).reshape(d, m * c)
    return (x @ wide).view(x.shape[0], m, c).transpose(0, 1) + b


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

    def __call__(self, x: torch.Tensor, train: bool, generator: torch.Generator | None = None,
                 params: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``x``: [n, d] shared by all heads, or [m, n, d]; returns [m, n, classes]."""
        params = self.params if params is None else params
        h = x
        for op, arg in self.ops:
            if op == "linear":
                w, b = params[arg], params[arg + 1]
                if h.dim() == 3:
                    h = torch.baddbmm(b, h, w)
                else:      # shared input: one GEMM against every head's weights side by side
                    h = _shared_linear(h, w, b)
            elif op == "act":
                h = arg(h)
            elif op == "dropout" and train and arg > 0:
                # one mask shared by the heads (each head still sees an independent-looking mask per
                # step; they are separate models): drawing a mask per head was a tenth of a step
                keep = (torch.rand(h.shape[1:], generator=generator) >= arg).to(h.dtype)
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
    """Adam with a learning rate and an L2 penalty per head (coupled, as torch's Adam ``weight_decay``).

    The update is memory-bound (a dozen passes over every weight per step, unfused), so where torch
    has its fused CPU/CUDA kernel (``torch._fused_adam_``, what ``Adam(fused=True)`` calls) the heads
    are updated in runs of equal (lr, weight decay): one fused pass per run and parameter kind,
    ~4x fewer memory passes. Runs are contiguous slices (views) of the stacked tensors.
    """

    def __init__(self, params: list[torch.Tensor], decay: list[bool], lrs: torch.Tensor, wds: torch.Tensor):
        self.decay = decay
        self.moments = [torch.zeros_like(p) for p in params]
        self.squares = [torch.zeros_like(p) for p in params]
        self.lrs, self.wds = lrs.view(-1, 1, 1).clone(), wds.view(-1, 1, 1).clone()
        self.steps = 0
        self.fused = _FUSED is not None and all(p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64)
                                                for p in params)      # the search runs on CPU features
        self._runs = self._equal_runs()

    def _equal_runs(self) -> list[tuple[int, int, float, float]]:
        """(start, end, lr, wd) for each run of consecutive heads with the same settings."""
        lrs, wds = self.lrs.flatten().tolist(), self.wds.flatten().tolist()
        runs: list[tuple[int, int, float, float]] = []
        for i, (lr, wd) in enumerate(zip(lrs, wds)):
            if runs and runs[-1][2] == lr and runs[-1][3] == wd:
                runs[-1] = (runs[-1][0], i + 1, lr, wd)
            else:
                runs.append((i, i + 1, lr, wd))
        return runs

    def step(self, params: list[torch.Tensor], grads: tuple[torch.Tensor, ...]) -> None:
        self.steps += 1
        if self.fused:
            self._fused_step(params, grads)
            return
        beta1, beta2 = BETAS
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

    def _fused_step(self, params: list[torch.Tensor], grads: tuple[torch.Tensor, ...]) -> None:
        step = torch.tensor(float(self.steps))
        grads = [g.contiguous() for g in grads]      # the kernel walks memory linearly
        with torch.no_grad():
            for a, b, lr, wd in self._runs:
                for decays in (True, False):
                    which = [i for i, d in enumerate(self.decay) if d is decays]
                    if not which:
                        continue
                    _FUSED([params[i].detach()[a:b] for i in which], [grads[i][a:b] for i in which],
                           [self.moments[i][a:b] for i in which], [self.squares[i][a:b] for i in which], [],
                           [step] * len(which), amsgrad=False, lr=lr, beta1=BETAS[0], beta2=BETAS[1],
                           weight_decay=wd if decays else 0.0, eps=EPS, maximize=False)

    def keep(self, which: torch.Tensor) -> None:
        self.moments = [t[which] for t in self.moments]
        self.squares = [t[which] for t in self.squares]
        self.lrs, self.wds = self.lrs[which], self.wds[which]
        self._runs = self._equal_runs()


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
                label_smoothing: float, job: JobState | None = None, stop_share: float = 1.0,
                average: float | None = None, on_epoch: Callable[..., None] | None = None,
                kind: SingleLabelTask | None = None) -> GroupFit:
    """Train ``m = len(lrs)`` heads of shape ``spec`` at once with Adam.

    Head j trains on the samples where ``train_mask[j]`` is set and is validated
    each epoch (log-loss) on those where ``val_mask[j]`` is set; with
    ``early_stop`` it stops after ``PATIENCE`` epochs without improvement (and
    leaves the batch) and its best-epoch weights are kept. Once ``stop_share`` of
    the heads have stopped the group ends (the search passes ``GROUP_STOP_SHARE``;
    the default 1.0 waits for every head). With ``average`` (a decay such as 0.9) each head is
    validated, kept and returned as an exponential moving average of its weights over the steps:
    with few large steps an epoch the raw weights at an epoch's end are a noisy sample, the average
    is not. ``on_epoch(epoch, live, train_loss, val_loss, val_acc)`` (for progress reports) is told
    after each epoch which heads still learn (indices into the m) and their mean training loss and,
    with ``val_mask``, their validation loss and accuracy (else None); it makes every epoch validate.
    ``kind`` (``task_types``; single-label by default) gives the loss and the accuracy: ``y`` holds its
    targets (class indices, or N×L label sets) and ``class_weight`` its loss weight. ``check(job)``
    runs after each epoch (cancel, pause).
    """
    kind = kind if kind is not None else SingleLabelTask(num_classes)
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
    avg = heads.snapshot() if average else None
    live = torch.arange(m)            # the heads still learning
    bad = torch.zeros(m, dtype=torch.long)
    head_epochs = 0
    threads = torch.get_num_threads()

    def pick_threads() -> None:       # one thread while a step is tiny (core/threads.py)
        torch.set_num_threads(threads_for_step(sum(p.numel() for p in heads.params), batch_size) or threads)

    pick_threads()
    try:
        for epoch in range(1, epochs + 1):
            head_epochs += int(live.numel())
            order = torch.randperm(n, generator=g)
            seen = torch.zeros(int(live.numel()))
            summed = torch.zeros(int(live.numel()))
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                w = tmask[:, idx]
                count = w.sum(1)
                if float(count.sum()) == 0:
                    continue
                logits = heads(x[idx], train=True, generator=g)
                per = kind.per_sample_loss(logits, y[idx], weight=class_weight, label_smoothing=label_smoothing)
                loss = ((per * w).sum(1) / count.clamp(min=1)).sum()
                if on_epoch is not None:
                    summed += (per.detach() * w).sum(1)
                    seen += count
                adam.step(heads.params, torch.autograd.grad(loss, heads.params))
                if avg is not None:
                    with torch.no_grad():
                        for mean_p, p in zip(avg, heads.params):
                            mean_p.lerp_(p, 1 - average)
            check(job)
            if vmask is None or not early_stop and epoch < epochs and on_epoch is None:
                if on_epoch is not None:
                    on_epoch(epoch, live.clone(), summed / seen.clamp(min=1), None, None)
                continue
            with torch.no_grad():
                logits = heads(x, train=False, params=avg)
                per = kind.per_sample_loss(logits, y)
                val_loss = (per * vmask).sum(1) / vmask.sum(1).clamp(min=1)
                if on_epoch is not None:
                    hits = kind.hits(logits, y)
                    on_epoch(epoch, live.clone(), summed / seen.clamp(min=1), val_loss.clone(),
                             (hits * vmask).sum(1) / vmask.sum(1).clamp(min=1))
            better = val_loss < best_loss[live]
            if early_stop or epoch == epochs:
                improved = live[better]
                best_loss[improved] = val_loss[better]
                best_epoch[improved] = epoch
                best_logits[improved] = logits[better]
                for bp, p in zip(best_params, avg if avg is not None else heads.params):
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
                    if avg is not None:
                        avg = [mean_p[going] for mean_p in avg]
                    tmask, vmask = tmask[going], vmask[going]
    finally:
        torch.set_num_threads(threads)
    if vmask is None:
        best_params = [mean_p.clone() for mean_p in avg] if avg is not None else heads.snapshot()
    return GroupFit(best_epoch, best_loss, best_logits, heads, best_params, time.perf_counter() - t0, head_epochs)


__all__ = ["GROUP_STOP_SHARE", "PATIENCE", "BatchedAdam", "BatchedHeads", "GroupFit", "searchable", "train_group"]

"""Automatic head fitting on stored features: a small search, a refit, a temperature.

With the base frozen the head sees only feature vectors, and a pass over a
thousand of them costs milliseconds. So instead of guessing a learning rate
and an epoch count, the head is *fitted*:

1. **Search.** A few configurations (learning rate x weight decay x head
   shape: linear, or one hidden layer) are trained with AdamW on standardised
   features, each with early stopping on validation loss. They are scored by
   stratified k-fold cross-validation over all labelled samples (train +
   validation split) when there are at most ``CV_MAX_SAMPLES``, else by the
   validation split. All configurations of one head shape and all folds train
   *at once*, as one batch of independent heads (batched matmuls), so the whole
   search is a few thousand small steps. The test split never reaches this
   module. Fields the user set explicitly are not searched: an explicit
   learning rate, weight decay or head is the only value tried; explicit
   epochs are trained exactly, without early stopping.
2. **Refit.** The winner (highest held-out accuracy; the lower loss breaks ties)
   is trained again on all labelled samples for the median of its early-
   stopped epoch counts, unless the caller keeps the validation split out of
   the final model (``refit=False``: then it trains on the train split only).
3. **Honest numbers.** The winner's out-of-fold predictions (each sample
   predicted by a head that never saw it) give the reported accuracy, loss
   and confusion matrix after a refit.
4. **Calibration.** A temperature ``T`` is fitted on the out-of-fold (or
   validation) logits by minimising their log-loss; the expected calibration
   error before and after is reported. ``fold_temperature`` divides the output
   layer by ``T``, so every consumer of the saved model (prediction, export)
   gets the calibrated probabilities; the arg-max never changes.

Standardisation (per-feature mean and spread of the fitting data) is folded
into the head's first linear layer, so the saved head takes raw features.
Everything here is pure torch on feature tensors and works for any modality.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from tlstudio.core.errors import TrainingError
from tlstudio.core.model.head import ACTIVATIONS, HeadLayer, HeadSpec

# The fields of a Project the search may choose (``TrainingSettings.auto`` names those left to it).
SEARCHABLE = ("lr", "weight_decay", "epochs", "head")
LR_GRID = (1e-3, 3e-3)
HIDDEN_LR_GRID = (1e-3,)     # a hidden layer costs ~50x a linear head per step: one learning rate
WEIGHT_DECAY_GRID = (1e-3, 1e-2, 1e-1)
HIDDEN_WIDTH = 128
HIDDEN_DROPOUT = 0.2
HIDDEN_INPUT_DIM = 256       # hidden heads search (and refit) on this many principal components
SEARCH_HEADS = (HeadSpec(layers=[]),
                HeadSpec(layers=[HeadLayer("linear", width=HIDDEN_WIDTH), HeadLayer("activation", activation="relu"),
                                 HeadLayer("dropout", p=HIDDEN_DROPOUT)]))
MAX_EPOCHS = 100
PATIENCE = 10                # epochs without a lower validation loss before a head stops
CV_MAX_SAMPLES = 3000        # up to this many labelled samples, k-fold CV; above, the validation split
FOLDS = 5
MIN_BATCH = 32               # the search batches at least this many samples
ECE_BINS = 15
# A temperature below 1 sharpens; held-out predictions that are all right would drive it towards 0,
# which only makes new mistakes confident: it stays within these bounds.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.25, 10.0
SEARCHABLE_LAYERS = ("linear", "activation", "dropout")


# --------------------------------------------------------------------------- results

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

    @property
    def best(self) -> Trial:
        return self.trials[self.winner]

    @property
    def heldout_accuracy(self) -> float:
        return float((self.heldout_logits.argmax(1) == self.heldout_labels).float().mean())

    @property
    def heldout_loss(self) -> float:
        return float(F.cross_entropy(self.heldout_logits, self.heldout_labels))

    def table(self) -> list[dict]:
        return [{**trial.to_dict(), "winner": i == self.winner} for i, trial in enumerate(self.trials)]

    def to_dict(self) -> dict:
        """What search.json holds (no tensors)."""
        best = self.best
        return {"method": self.method, "folds": self.folds, "refit": self.refit, "fit_samples": self.fit_samples,
                "seconds": round(self.seconds, 3), "explicit": list(self.explicit),
                "winner": {**best.config.to_dict(), "epochs": best.epochs},
                "heldout_accuracy": self.heldout_accuracy, "heldout_loss": self.heldout_loss,
                "heldout_samples": int(self.heldout_labels.numel()),
                "temperature": self.temperature, "ece_before": self.ece_before, "ece_after": self.ece_after,
                "trials": self.table()}


def format_table(search: dict) -> str:
    """The search as a compact text table (from ``SearchResult.to_dict()`` or search.json)."""
    score = "CV" if search.get("folds", 1) > 1 else "val"
    lines = [f"Head search ({search['method']}, {search['seconds']:.1f} s):",
             f"  {'head':<11} {'lr':>7} {'wd':>7} {'epochs':>6} {score + ' acc':>7} {score + ' loss':>8} {'time':>6}"]
    for row in search["trials"]:
        mark = "  <- winner" if row["winner"] else ""
        lines.append(f"  {row['head']:<11} {row['lr']:>7.0e} {row['weight_decay']:>7.0e} {row['epochs']:>6d} "
                     f"{row['cv_accuracy']:>7.3f} {row['cv_loss']:>8.3f} {row['seconds']:>5.1f}s{mark}")
    where = "all labelled samples" if search["refit"] else "the train split"
    lines.append(f"  refit on {where} ({search['fit_samples']}); temperature {search['temperature']:.2f}, "
                 f"ECE {search['ece_before']:.3f} -> {search['ece_after']:.3f} (held-out)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- metrics

def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    if labels.numel() == 0:
        return float("nan")
    probs = torch.softmax(logits.float(), dim=1)
    conf, pred = probs.max(1)
    correct = (pred == labels).float()
    which = torch.clamp((conf * bins).long(), max=bins - 1)
    total = torch.zeros(bins).index_add_(0, which, torch.ones_like(conf))
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
    for _ in range(60):
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


# --------------------------------------------------------------------------- folds

def stratified_folds(labels: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """A fold number in [0, k) for each sample, classes spread evenly over the folds."""
    g = torch.Generator().manual_seed(int(seed) + 7919)
    fold = torch.empty(labels.numel(), dtype=torch.long)
    offset = 0
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        fold[idx] = (torch.arange(idx.numel()) + offset) % k
        offset += idx.numel()
    return fold


# --------------------------------------------------------------------------- batched heads

def searchable(spec: HeadSpec) -> bool:
    """Whether the batched trainer fits this head (linear, activation and dropout layers only)."""
    return all(layer.type in SEARCHABLE_LAYERS for layer in spec.layers)


class _Heads:
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


@dataclass
class _GroupFit:
    best_epoch: torch.Tensor      # [m] epoch of the lowest validation loss (the last epoch without validation)
    best_loss: torch.Tensor       # [m]
    best_logits: torch.Tensor     # [m, n, classes] validation logits at the best epoch
    heads: _Heads
    best_params: list[torch.Tensor]
    seconds: float


def _train_group(x: torch.Tensor, y: torch.Tensor, train_mask: torch.Tensor, val_mask: torch.Tensor | None,
                 spec: HeadSpec, lrs: torch.Tensor, wds: torch.Tensor, *, epochs: int, early_stop: bool,
                 batch_size: int, seed: int, num_classes: int, class_weight: torch.Tensor | None,
                 label_smoothing: float, check: Callable[[], None]) -> _GroupFit:
    """Train ``m = len(lrs)`` heads of shape ``spec`` at once with AdamW.

    Head j trains on the samples where ``train_mask[j]`` is set and is validated
    each epoch (log-loss) on those where ``val_mask[j]`` is set; with
    ``early_stop`` it stops after ``PATIENCE`` epochs without improvement and its
    best-epoch weights are kept.
    """
    t0 = time.perf_counter()
    m, n = train_mask.shape
    g = torch.Generator().manual_seed(int(seed))
    heads = _Heads(spec, x.shape[1], num_classes, m, g)
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in heads.params]
    lr_b = [lrs.view(m, *([1] * (p.dim() - 1))) for p in heads.params]
    wd_b = [wds.view(m, *([1] * (p.dim() - 1))) for p in heads.params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    tmask, vmask = train_mask.float(), (val_mask.float() if val_mask is not None else None)
    best_loss = torch.full((m,), float("inf"))
    best_epoch = torch.full((m,), epochs, dtype=torch.long)
    best_logits = torch.zeros(m, n, num_classes)
    best_params = heads.snapshot()
    bad = torch.zeros(m, dtype=torch.long)
    active = torch.ones(m, dtype=torch.bool)
    step = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=g)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            w = tmask[:, idx] * active.float()[:, None]
            count = w.sum(1)
            if float(count.sum()) == 0:
                continue
            logits = heads(x[idx], train=True, generator=g)
            per = F.cross_entropy(logits.reshape(-1, num_classes), y[idx].repeat(m), weight=class_weight,
                                  label_smoothing=label_smoothing, reduction="none").view(m, -1)
            loss = ((per * w).sum(1) / count.clamp(min=1)).sum()
            grads = torch.autograd.grad(loss, heads.params)
            step += 1
            c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
            with torch.no_grad():
                for p, grad, (mom, var), lr, wd, decay in zip(heads.params, grads, state, lr_b, wd_b, heads.decay):
                    if decay:      # L2 on the weights (coupled, as torch's Adam weight_decay)
                        grad = grad + wd * p
                    mom.mul_(beta1).add_(grad, alpha=1 - beta1)
                    var.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    p.sub_(lr * (mom / c1) / ((var / c2).sqrt() + eps))
        check()
        if vmask is None or not early_stop and epoch < epochs:
            continue
        with torch.no_grad():
            logits = heads(x, train=False)
            per = F.cross_entropy(logits.reshape(-1, num_classes), y.repeat(m), reduction="none").view(m, n)
            val_loss = (per * vmask).sum(1) / vmask.sum(1).clamp(min=1)
        better = (val_loss < best_loss) & active
        if early_stop or epoch == epochs:
            best_loss = torch.where(better, val_loss, best_loss)
            best_epoch = torch.where(better, torch.full_like(best_epoch, epoch), best_epoch)
            best_logits[better] = logits[better]
            for bp, p in zip(best_params, heads.params):
                bp[better] = p.detach()[better]
        if early_stop:
            bad = torch.where(better, torch.zeros_like(bad), bad + 1)
            active &= bad < PATIENCE
            if not bool(active.any()):
                break
    if vmask is None:
        best_params = heads.snapshot()
    return _GroupFit(best_epoch, best_loss, best_logits, heads, best_params, time.perf_counter() - t0)


# --------------------------------------------------------------------------- the search

def standardiser(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and spread; a spread is floored at the median spread, so a feature that is
    almost always zero (common after ReLU on small images) is not blown up into outliers."""
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    return mean, std.clamp(min=max(float(std.median()), 1e-6))


def principal_basis(xs: torch.Tensor, k: int = HIDDEN_INPUT_DIM) -> torch.Tensor | None:
    """The top-``k`` principal directions of standardised features [d, min(k, n)] (None when d <= k).

    A hidden layer's first matmul is most of the search's cost; on the leading principal
    components (no labels used) it is ``d / k`` times cheaper, and the basis folds exactly into the
    saved head's first layer.
    """
    if xs.shape[1] <= k:
        return None
    _, _, vh = torch.linalg.svd(xs - xs.mean(0), full_matrices=False)
    return vh[:k].T.contiguous()


def _project(x: torch.Tensor, basis: torch.Tensor | None) -> torch.Tensor:
    return x if basis is None else x @ basis


def fold_standardiser(head: nn.Sequential, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make ``head`` take raw features: ``W (x - mean) / std + b`` folded into the first linear layer."""
    first = next(m for m in head.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        w = first.weight / std
        first.bias.sub_(w @ mean)
        first.weight.copy_(w)


def configs_for(*, lr: float | None, weight_decay: float | None, head: HeadSpec | None) -> list[SearchConfig]:
    """The grid: each ``None`` is searched, each given value is the only one tried."""
    wds = WEIGHT_DECAY_GRID if weight_decay is None else (float(weight_decay),)
    heads = SEARCH_HEADS if head is None else (head,)
    out = []
    for h in heads:
        lrs = (LR_GRID if not h.layers else HIDDEN_LR_GRID) if lr is None else (float(lr),)
        out += [SearchConfig(a, b, h) for a in lrs for b in wds]
    return out


def search_head(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                num_classes: int, *, lr: float | None = None, weight_decay: float | None = None,
                epochs: int | None = None, head: HeadSpec | None = None, refit: bool = True,
                batch_size: int = 32, seed: int = 0, label_smoothing: float = 0.0,
                class_weight: torch.Tensor | None = None, train_views: Sequence[torch.Tensor] = (),
                check: Callable[[], None] | None = None,
                progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Search, refit and calibrate a head on features; see the module docstring.

    ``train_x``/``val_x`` are [n, d] float features of the train and validation
    split (never the test split); ``train_views`` optional extra augmented views
    of the train rows (the search holds out view 0). ``lr``, ``weight_decay``,
    ``epochs`` and ``head`` are explicit user values (``None``: searched).
    ``progress(done, total)`` is told after each group of heads.
    """
    check = check or (lambda: None)
    t0 = time.perf_counter()
    if head is not None and not searchable(head):
        raise TrainingError("The head search fits linear, activation and dropout layers only.")
    x_all = torch.cat([train_x.float(), val_x.float()])
    y_all = torch.cat([train_y.long(), val_y.long()])
    n_train, n = train_x.shape[0], x_all.shape[0]
    explicit = [name for name, v in (("lr", lr), ("weight_decay", weight_decay), ("epochs", epochs),
                                     ("head", head)) if v is not None]
    configs = configs_for(lr=lr, weight_decay=weight_decay, head=head)
    if n <= CV_MAX_SAMPLES and int(torch.bincount(y_all).min()) >= 2:
        k = min(FOLDS, int(torch.bincount(y_all, minlength=num_classes)[torch.unique(y_all)].min()))
        fold = stratified_folds(y_all, max(k, 2), seed)
        k = max(k, 2)
        method = f"{k}-fold cross-validation"
    else:
        k = 1
        fold = torch.cat([torch.ones(n_train, dtype=torch.long), torch.zeros(n - n_train, dtype=torch.long)])
        method = "validation split"
    mean, std = standardiser(x_all)
    xs = (x_all - mean) / std
    basis = principal_basis(xs)
    batch = max(int(batch_size), MIN_BATCH)
    max_epochs = MAX_EPOCHS if epochs is None else int(epochs)
    shapes: list[HeadSpec] = []
    for cfg in configs:
        if all(cfg.head is not s for s in shapes):
            shapes.append(cfg.head)
    trials: list[Trial | None] = [None] * len(configs)
    heldout: dict[int, torch.Tensor] = {}
    heldout_mask = (fold < 1) if k == 1 else torch.ones(n, dtype=torch.bool)
    for gi, shape in enumerate(shapes):
        members = [i for i, c in enumerate(configs) if c.head is shape]
        # model j*k + f: config members[j] on fold f
        tm = torch.stack([fold != f for _ in members for f in range(k)])
        vm = ~tm
        lrs = torch.tensor([configs[i].lr for i in members for _ in range(k)])
        wds = torch.tensor([configs[i].weight_decay for i in members for _ in range(k)])
        inputs = _project(xs, basis) if shape.layers else xs
        fit = _train_group(inputs, y_all, tm, vm, shape, lrs, wds, epochs=max_epochs, early_stop=epochs is None,
                           batch_size=batch, seed=seed + gi, num_classes=num_classes, class_weight=class_weight,
                           label_smoothing=label_smoothing, check=check)
        for j, i in enumerate(members):
            logits = torch.zeros(n, num_classes)
            for f in range(k):
                held = vm[j * k + f]
                logits[held] = fit.best_logits[j * k + f][held]
            losses = [float(fit.best_loss[j * k + f]) for f in range(k)]
            chosen = int(statistics.median_low([int(fit.best_epoch[j * k + f]) for f in range(k)]))
            acc = float((logits[heldout_mask].argmax(1) == y_all[heldout_mask]).float().mean())
            trials[i] = Trial(configs[i], sum(losses) / k, acc, chosen, fit.seconds / len(members))
            heldout[i] = logits[heldout_mask]
        if progress is not None:
            progress(gi + 1, len(shapes) + 1)
    done = [t for t in trials if t is not None]
    winner = min(range(len(done)), key=lambda i: (-round(done[i].score_acc, 6), done[i].score_loss))
    best = done[winner]
    # The refit: all labelled samples (or the train split only), the winner's settings, its epoch count.
    fit_mask = torch.ones(n, dtype=torch.bool) if refit else torch.arange(n) < n_train
    fx, fy = x_all, y_all
    if train_views:      # extra augmented views of the train rows join the refit
        fx = torch.cat([x_all] + [v.float() for v in train_views])
        fy = torch.cat([y_all] + [train_y.long()] * len(train_views))
        fit_mask = torch.cat([fit_mask] + [torch.ones(n_train, dtype=torch.bool)] * len(train_views))
    fmean, fstd = standardiser(fx[fit_mask])
    fxs = (fx - fmean) / fstd
    fbasis = principal_basis(fxs[fit_mask]) if best.config.head.layers else None
    final = _train_group(_project(fxs, fbasis), fy, fit_mask[None, :], None, best.config.head,
                         torch.tensor([best.config.lr]), torch.tensor([best.config.weight_decay]),
                         epochs=max(1, best.epochs), early_stop=False, batch_size=batch, seed=seed + 101,
                         num_classes=num_classes, class_weight=class_weight, label_smoothing=label_smoothing,
                         check=check)
    head_module = final.heads.export(0, best.config.head, x_all.shape[1], num_classes, final.best_params,
                                     basis=fbasis)
    fold_standardiser(head_module, fmean, fstd)
    head_module.eval()
    if progress is not None:
        progress(len(shapes) + 1, len(shapes) + 1)
    logits, labels = heldout[configs.index(best.config)], y_all[heldout_mask]
    temperature = fit_temperature(logits, labels)
    result = SearchResult(
        trials=done, winner=winner, method=method, folds=k, refit=refit, fit_samples=int(fit_mask[:n].sum()),
        heldout_index=torch.nonzero(heldout_mask).flatten(), heldout_logits=logits, heldout_labels=labels,
        head=head_module, temperature=temperature,
        ece_before=expected_calibration_error(logits, labels),
        ece_after=expected_calibration_error(logits / temperature, labels),
        seconds=time.perf_counter() - t0, explicit=explicit)
    return result


def fixed_head(train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, spec: HeadSpec, *, lr: float,
               weight_decay: float, epochs: int, batch_size: int = 32, seed: int = 0) -> nn.Sequential:
    """A head trained with fixed settings and no search (a baseline for comparisons), on raw features."""
    mask = torch.ones(1, train_x.shape[0], dtype=torch.bool)
    fit = _train_group(train_x.float(), train_y.long(), mask, None, spec, torch.tensor([lr]),
                       torch.tensor([weight_decay]), epochs=epochs, early_stop=False, batch_size=batch_size,
                       seed=seed, num_classes=num_classes, class_weight=None, label_smoothing=0.0,
                       check=lambda: None)
    return fit.heads.export(0, spec, train_x.shape[1], num_classes, fit.best_params).eval()


def out_of_fold_probabilities(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, folds: int = FOLDS,
                              lr: float = 3e-3, weight_decay: float = 1e-2, epochs: int = 60, batch_size: int = 64,
                              seed: int = 0, check: Callable[[], None] | None = None) -> torch.Tensor:
    """Each sample's class probabilities from a linear head that never saw it: [n, num_classes].

    The samples are split into stratified ``folds`` (fewer when a class is smaller); one
    linear head per fold, all trained at once on standardised features with early stopping on
    the held-out fold. For spotting labels the model does not believe (the data audit).
    """
    y = y.long()
    counts = torch.bincount(y, minlength=num_classes)
    k = max(2, min(int(folds), int(counts[counts > 0].min())))
    fold = stratified_folds(y, k, seed)
    mean, std = standardiser(x.float())
    xs = (x.float() - mean) / std
    train_mask = torch.stack([fold != f for f in range(k)])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # tiny matmuls: measured 40x faster on one thread on a busy 2-core machine
    try:
        fit = _train_group(xs, y, train_mask, ~train_mask, HeadSpec(layers=[]), torch.full((k,), float(lr)),
                           torch.full((k,), float(weight_decay)), epochs=int(epochs), early_stop=True,
                           batch_size=max(int(batch_size), MIN_BATCH), seed=seed, num_classes=num_classes,
                           class_weight=None, label_smoothing=0.0, check=check or (lambda: None))
    finally:
        torch.set_num_threads(threads)
    logits = torch.zeros(x.shape[0], num_classes)
    for f in range(k):
        held = ~train_mask[f]
        logits[held] = fit.best_logits[f][held]
    return torch.softmax(logits, dim=1)


__all__ = ["SEARCHABLE", "SearchConfig", "SearchResult", "Trial", "configs_for", "expected_calibration_error",
           "fit_temperature", "fixed_head", "fold_standardiser", "fold_temperature", "format_table",
           "out_of_fold_probabilities", "search_head", "searchable", "stratified_folds", "ACTIVATIONS"]

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
   *at once*, as one batch of independent heads (batched matmuls), in
   minibatches of up to ``SEARCH_BATCH`` samples (a step costs mostly its fixed
   overhead and the optimiser's pass over the weights: fewer, larger steps),
   each head validated and kept as a moving average of its weights over the
   steps (with a few large steps an epoch, an epoch-end snapshot is noisy), so
   the whole search is a few hundred steps. The test split never reaches this
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
The batched trainer lives in ``batched.py`` (a head that has stopped
leaves the batch, so a group costs what its learning heads cost), the
temperature and ECE in ``core/calibration.py``, the result types and the table in
``results.py``, the curves gathered from the search's events in ``curves.py``.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import torch
from torch import nn

from tlstudio.core.errors import TrainingError
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.headsearch.batched import GROUP_STOP_SHARE, searchable, train_group
from tlstudio.core import events as ev
from tlstudio.core.headsearch.curves import config_label
from tlstudio.core.headsearch.results import SearchConfig, SearchResult, Trial
from tlstudio.core.progress import JobState, set_progress
from tlstudio.core.task_types import SingleLabelTask

# The fields of a Project the search may choose (``TrainingSettings.auto`` names those left to it).
SEARCHABLE = ("lr", "weight_decay", "epochs", "head")
# Learning rates for search batches of SEARCH_BATCH (chosen with benchmarks/bench_quality.py --splits on
# feature pools the benchmark's own splits do not use; a quarter of the batch-32 steps at ~2x the rate).
LR_GRID = (2e-3, 6e-3)
HIDDEN_LR_GRID = (2e-3,)     # a hidden layer costs ~10x a linear head per step: one learning rate
WEIGHT_DECAY_GRID = (1e-3, 1e-2, 1e-1)
HIDDEN_WIDTH = 128
HIDDEN_DROPOUT = 0.2
HIDDEN_INPUT_DIM = 256       # hidden heads search (and refit) on this many principal components
SEARCH_HEADS = (HeadSpec(layers=[]),
                HeadSpec(layers=[HeadLayer("linear", width=HIDDEN_WIDTH), HeadLayer("activation", activation="relu"),
                                 HeadLayer("dropout", p=HIDDEN_DROPOUT)]))
MAX_EPOCHS = 100
CV_MAX_SAMPLES = 3000        # up to this many labelled samples, k-fold CV; above, the validation split
FOLDS = 5
MIN_BATCH = 32               # the search batches at least this many samples ...
SEARCH_BATCH = 128           # ... and up to this many, keeping >= 3 steps an epoch on small sets (search_batch)
SEARCH_AVERAGE = 0.9         # heads are scored and kept as a moving average of their weights (train_group)
PCA_OVERSAMPLE, PCA_POWER_STEPS = 16, 3      # the randomised principal basis (see principal_basis)


# --------------------------------------------------------------------------- folds

def stratified_folds(labels: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """A fold number in [0, k) for each sample, classes spread evenly over the folds."""
    return SingleLabelTask(0).folds(labels, k, seed)


# --------------------------------------------------------------------------- the search

def standardiser(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and spread; a spread is floored at the median spread, so a feature that is
    almost always zero (common after ReLU on small images) is not blown up into outliers."""
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    return mean, std.clamp(min=max(float(std.median()), 1e-6))


def principal_basis(xs: torch.Tensor, k: int = HIDDEN_INPUT_DIM, seed: int = 0) -> torch.Tensor | None:
    """The top-``k`` principal directions of standardised features [d, min(k, n)] (None when d <= k).

    A hidden layer's first matmul is most of the search's cost; on the leading principal
    components (no labels used) it is ``d / k`` times cheaper, and the basis folds exactly into the
    saved head's first layer. With many samples the directions come from a randomised range
    finder (a few power steps on ``k + PCA_OVERSAMPLE`` seeded random directions, then an exact
    SVD of that small projection): a fraction of a full SVD's cost, and a basis a hidden layer
    learns on as well.
    """
    n, d = xs.shape
    if d <= k:
        return None
    centred = xs - xs.mean(0)
    width = k + PCA_OVERSAMPLE
    if min(n, d) <= 2 * width:
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        return vh[:k].T.contiguous()
    g = torch.Generator().manual_seed(int(seed) + 104729)
    q = torch.linalg.qr(centred @ torch.randn(d, width, generator=g)).Q
    for _ in range(PCA_POWER_STEPS):
        q = torch.linalg.qr(centred @ torch.linalg.qr(centred.T @ q).Q).Q
    _, _, vh = torch.linalg.svd(q.T @ centred, full_matrices=False)
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


def search_batch(n: int, batch_size: int) -> int:
    """The search's minibatch: large (a step's cost is mostly fixed overhead and the optimiser's pass
    over the weights, so fewer, larger steps are faster), but at least 3 steps an epoch, at least
    ``MIN_BATCH``, and never below the user's batch size."""
    return max(int(batch_size), MIN_BATCH, min(SEARCH_BATCH, n // 3))


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
                cross_validate: bool = True, job: JobState | None = None,
                report: Callable[[ev.Event], None] | None = None,
                kind: SingleLabelTask | None = None) -> SearchResult:
    """Search, refit and calibrate a head on features; see the module docstring.

    ``train_x``/``val_x`` are [n, d] float features of the train and validation
    split (never the test split); ``train_views`` optional extra augmented views
    of the train rows (the search holds out view 0). ``cross_validate=False`` scores on the
    validation split even when k-fold cross-validation would be used. ``lr``, ``weight_decay``,
    ``epochs`` and ``head`` are explicit user values (``None``: searched).
    ``check(job)`` runs after every epoch of every group of heads (cancel, pause); the search's
    progress is its events, which ``report`` gets (``HeadSearchStarted``, ``HeadSearchTrial`` with
    its done count and ETA, ``HeadSearchEpoch``, ``HeadRefitEpoch``).
    ``kind`` (``task_types``, single-label by default) gives the targets' loss, the folds and the score
    candidates are ranked by (multi-label: out-of-fold micro-F1 at per-label tuned thresholds);
    ``train_y``/``val_y`` hold its targets.
    """
    kind = kind if kind is not None else SingleLabelTask(num_classes)
    t0 = time.perf_counter()
    if head is not None and not searchable(head):
        raise TrainingError("The head search fits linear, activation and dropout layers only.")
    x_all = torch.cat([train_x.float(), val_x.float()])
    y_all = torch.cat([train_y, val_y])
    n_train, n = train_x.shape[0], x_all.shape[0]
    explicit = [name for name, v in (("lr", lr), ("weight_decay", weight_decay), ("epochs", epochs),
                                     ("head", head)) if v is not None]
    configs = configs_for(lr=lr, weight_decay=weight_decay, head=head)
    if cross_validate and n <= CV_MAX_SAMPLES and kind.cross_validates(y_all):
        k = max(kind.fold_count(y_all, FOLDS), 2)
        fold = kind.folds(y_all, k, seed)
        method = f"{k}-fold cross-validation"
    else:
        k = 1
        fold = torch.cat([torch.ones(n_train, dtype=torch.long), torch.zeros(n - n_train, dtype=torch.long)])
        method = "validation split"
    mean, std = standardiser(x_all)
    xs = (x_all - mean) / std
    basis = principal_basis(xs, seed=seed) if any(c.head.layers for c in configs) else None
    batch = search_batch(n, batch_size)     # the same for a rerun with the chosen values: it reproduces
    max_epochs = MAX_EPOCHS if epochs is None else int(epochs)
    shapes: list[HeadSpec] = []
    for cfg in configs:
        if all(cfg.head is not s for s in shapes):
            shapes.append(cfg.head)
    trials: list[Trial | None] = [None] * len(configs)
    emit = report or (lambda _event: None)
    labels = [config_label(c.head_label(), c.lr, c.weight_decay) for c in configs]
    emit(ev.HeadSearchStarted(candidates=len(configs), folds=k, method=method, samples=n))
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
        for i in members:
            emit(ev.HeadSearchTrial(candidate=i, candidates=len(configs), label=labels[i], finished=False,
                                    done=sum(t is not None for t in trials)))
        fit = train_group(inputs, y_all, tm, vm, shape, lrs, wds, epochs=max_epochs, early_stop=epochs is None,
                          batch_size=batch, seed=seed + gi, num_classes=num_classes, class_weight=class_weight,
                          label_smoothing=label_smoothing, job=job, stop_share=GROUP_STOP_SHARE,
                          average=SEARCH_AVERAGE, on_epoch=_fold_reporter(emit, members, k) if report else None,
                          kind=kind)
        for j, i in enumerate(members):
            logits = torch.zeros(n, num_classes)
            for f in range(k):
                held = vm[j * k + f]
                logits[held] = fit.best_logits[j * k + f][held]
            losses = [float(fit.best_loss[j * k + f]) for f in range(k)]
            chosen = int(statistics.median_low([int(fit.best_epoch[j * k + f]) for f in range(k)]))
            acc = kind.tuned_score(logits[heldout_mask], y_all[heldout_mask])
            trials[i] = Trial(configs[i], sum(losses) / k, acc, chosen, fit.seconds / len(members))
            heldout[i] = logits[heldout_mask]
        done_now = sum(t is not None for t in trials)
        eta = (time.perf_counter() - t0) / done_now * (len(configs) - done_now)
        for i in members:
            emit(ev.HeadSearchTrial(candidate=i, candidates=len(configs), label=labels[i], finished=True,
                                    done=done_now, cv_loss=trials[i].score_loss, cv_acc=trials[i].score_acc,
                                    epochs=trials[i].epochs, eta_seconds=eta))
    done = [t for t in trials if t is not None]
    winner = min(range(len(done)), key=lambda i: (-round(done[i].score_acc, 6), done[i].score_loss))
    best = done[winner]
    # The refit: all labelled samples (or the train split only), the winner's settings, its epoch count.
    fit_mask = torch.ones(n, dtype=torch.bool) if refit else torch.arange(n) < n_train
    fx, fy = x_all, y_all
    if train_views:      # extra augmented views of the train rows join the refit
        fx = torch.cat([x_all] + [v.float() for v in train_views])
        fy = torch.cat([y_all] + [train_y] * len(train_views))
        fit_mask = torch.cat([fit_mask] + [torch.ones(n_train, dtype=torch.bool)] * len(train_views))
    if bool(fit_mask.all()) and fx is x_all:      # the refit sees the very samples the search did
        fmean, fstd, fxs, fbasis = mean, std, xs, basis
    else:
        fmean, fstd = standardiser(fx[fit_mask])
        fxs = (fx - fmean) / fstd
        fbasis = principal_basis(fxs[fit_mask], seed=seed) if best.config.head.layers else None
    fbasis = fbasis if best.config.head.layers else None
    final = train_group(_project(fxs, fbasis), fy, fit_mask[None, :], None, best.config.head,
                         torch.tensor([best.config.lr]), torch.tensor([best.config.weight_decay]),
                         epochs=max(1, best.epochs), early_stop=False, batch_size=batch, seed=seed + 101,
                         num_classes=num_classes, class_weight=class_weight, label_smoothing=label_smoothing,
                         job=job, average=SEARCH_AVERAGE, kind=kind,
                         on_epoch=(lambda e, _live, train_loss, _vl, _va: emit(ev.HeadRefitEpoch(
                             epoch=e, epochs=max(1, best.epochs), train_loss=float(train_loss[0]))))
                         if report else None)
    head_module = final.heads.export(0, best.config.head, x_all.shape[1], num_classes, final.best_params,
                                     basis=fbasis)
    fold_standardiser(head_module, fmean, fstd)
    head_module.eval()
    logits, labels = heldout[configs.index(best.config)], y_all[heldout_mask]
    temperature, ece_before, ece_after = kind.calibrate(logits, labels)
    result = SearchResult(
        trials=done, winner=winner, method=method, folds=k, refit=refit, fit_samples=int(fit_mask[:n].sum()),
        heldout_index=torch.nonzero(heldout_mask).flatten(), heldout_logits=logits, heldout_labels=labels,
        head=head_module, temperature=temperature,
        ece_before=ece_before, ece_after=ece_after,
        seconds=time.perf_counter() - t0, explicit=explicit, kind=kind)
    return result


def _fold_reporter(emit: Callable[[ev.Event], None], members: list[int], k: int):
    """``train_group``'s epoch hook for a group of ``members`` x ``k`` folds: one HeadSearchEpoch per
    candidate still learning, its loss and accuracy averaged over its folds still learning."""
    def on_epoch(epoch, live, _train_loss, val_loss, val_acc) -> None:
        if val_loss is None:
            return
        owner = live // k
        for j in torch.unique(owner).tolist():
            rows = owner == j
            emit(ev.HeadSearchEpoch(candidate=members[j], epoch=int(epoch), val_loss=float(val_loss[rows].mean()),
                                    val_acc=float(val_acc[rows].mean())))
    return on_epoch


def fixed_head(train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, spec: HeadSpec, *, lr: float,
               weight_decay: float, epochs: int, batch_size: int = 32, seed: int = 0) -> nn.Sequential:
    """A head trained with fixed settings and no search (a baseline for comparisons), on raw features."""
    mask = torch.ones(1, train_x.shape[0], dtype=torch.bool)
    fit = train_group(train_x.float(), train_y.long(), mask, None, spec, torch.tensor([lr]),
                       torch.tensor([weight_decay]), epochs=epochs, early_stop=False, batch_size=batch_size,
                       seed=seed, num_classes=num_classes, class_weight=None, label_smoothing=0.0)
    return fit.heads.export(0, spec, train_x.shape[1], num_classes, fit.best_params).eval()


def fit_heldout_logits(x: torch.Tensor, y: torch.Tensor, train_mask: torch.Tensor, val_mask: torch.Tensor,
                       num_classes: int, *, spec: HeadSpec | None = None, lr: float = 3e-3,
                       weight_decay: float = WEIGHT_DECAY_GRID[1], batch_size: int = MIN_BATCH,
                       epochs: int = MAX_EPOCHS, seed: int = 0, job: JobState | None = None) -> torch.Tensor:
    """Many heads at once, each early-stopped on its own held-out rows: their held-out logits.

    Row ``j`` of the [m, n] masks trains head ``j`` on ``train_mask[j]`` and stops it on the
    log-loss of ``val_mask[j]``, as the search scores a configuration. ``x`` is used as given
    (standardise it first). Returns [m, n, num_classes] logits of every head on every row, at
    that head's best epoch. For learning curves and other many-subset fits on cached features.
    ``job`` is checked after each epoch and told ``set_progress(epoch, epochs)`` (early stopping may
    end sooner: the last report is ``epochs - 1`` until the caller's own final one).
    """
    spec = HeadSpec(layers=[]) if spec is None else spec
    m = train_mask.shape[0]
    fit = train_group(x.float(), y.long(), train_mask.bool(), val_mask.bool(), spec,
                       torch.full((m,), float(lr)), torch.full((m,), float(weight_decay)), epochs=int(epochs),
                       early_stop=True, batch_size=max(int(batch_size), MIN_BATCH), seed=seed,
                       num_classes=num_classes, class_weight=None, label_smoothing=0.0, job=job,
                       on_epoch=lambda epoch, *_: set_progress(job, min(epoch, int(epochs) - 1), int(epochs)))
    return fit.best_logits


def out_of_fold_probabilities(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, folds: int = FOLDS,
                              lr: float = 3e-3, weight_decay: float = 1e-2, epochs: int = 60, batch_size: int = 64,
                              seed: int = 0, job: JobState | None = None,
                              kind: SingleLabelTask | None = None) -> torch.Tensor:
    """Each sample's class probabilities from a linear head that never saw it: [n, num_classes].

    The samples are split into stratified ``folds`` (fewer when a class is smaller); one
    linear head per fold, all trained at once on standardised features with early stopping on
    the held-out fold. For spotting labels the model does not believe (the data audit).
    ``kind`` (``task_types``; single-label by default): ``y`` holds its targets, and a multi-label
    kind gives per-label sigmoid probabilities. ``check(job)`` runs after each epoch.
    """
    kind = kind if kind is not None else SingleLabelTask(num_classes)
    y = y if y.is_floating_point() else y.long()      # class indices, or multi-label 0/1 rows
    k = max(2, kind.fold_count(y, int(folds)))
    fold = kind.folds(y, k, seed)
    mean, std = standardiser(x.float())
    xs = (x.float() - mean) / std
    train_mask = torch.stack([fold != f for f in range(k)])
    fit = train_group(xs, y, train_mask, ~train_mask, HeadSpec(layers=[]), torch.full((k,), float(lr)),
                       torch.full((k,), float(weight_decay)), epochs=int(epochs), early_stop=True,
                       batch_size=max(int(batch_size), MIN_BATCH), seed=seed, num_classes=num_classes,
                       class_weight=None, label_smoothing=0.0, job=job, kind=kind)
    logits = torch.zeros(x.shape[0], num_classes)
    for f in range(k):
        held = ~train_mask[f]
        logits[held] = fit.best_logits[f][held]
    return kind.probabilities(logits)

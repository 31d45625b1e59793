"""How much more data: learning curves on cached features, a fitted curve and plain sentences.

**Curves.** The labelled samples (train + validation split; never the test
split) are cut into stratified folds (``headsearch.search.stratified_folds``). For
each fold, each repeat and each fraction of the data (``FRACTIONS``), a linear
head is fitted on that fraction of the fold's training part, per class, and
predicts the held-out fold. Subsets are nested within a repeat (the 20 % set
holds the 10 % set), so the curve's steps measure data, not luck of the draw.
All heads (fractions x repeats x folds, ~90) train at once as one batch
(``headsearch.search.fit_heldout_logits``, the search's batched AdamW trainer, each
head early-stopped on its own held-out fold like the search's scores: a slight
optimism shared by every point, which leaves the curve's shape alone). Heads
are linear on standardised features; above ``PCA_ABOVE`` samples on the
leading ``INPUT_DIM`` principal components, randomly rotated (a 1 000-image
curve costs seconds). Pooled
over folds, each (fraction, repeat) gives an out-of-fold accuracy and a recall
per class. x is the number of training samples a head saw (per class for a
class's recall), so the last point is ~(k-1)/k of what the final model sees.

**The fitted curve.** Accuracy (or a class's recall) against training samples
``n`` is fitted with the saturating power law ``acc(n) = a - b * n**(-c)``,
the standard empirical form of learning curves (error falls as a power of the
data towards an irreducible floor; e.g. Hestness et al. 2017, Figueroa et al.
2012). With only six noisy points a general non-linear fit is fragile, so the
fit is a grid over the exponent ``c`` (``EXPONENTS``); for a fixed ``c`` the
model is linear in ``(a, b)``, solved by weighted least squares with ``b >= 0``
(the curve never falls) and ``a <= 1`` (a ceiling no higher than perfect).
Points are weighted by the inverse variance of their mean over repeats (with a
floor), so a noisy small-data point does not steer the fit. Deterministic, no
optimiser, no dependency.

**Trust.** A fit is extrapolated only where it is trustworthy: enough points,
its residuals no larger than the repeat-to-repeat noise allows (``TRUST_*``),
and an exponent inside the grid (at the edge the curve's shape is not pinned
down). The extrapolation goes no further than twice the current data:
"about N more images of class X would raise its recall by ~Y points" is the
fitted gain from N (the class's current count) to 2N. When the trusted gain
of doubling is under ``MIN_GAIN`` (or the recall is already near perfect) the
sentence says plainly that more data is unlikely to help.

Caveat (stated in the docstring, not in the sentences): the fractions shrink
every class at once, so a class's curve is its recall as the whole set grows;
adding images of one class alone mostly moves that class's recall the same way.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from tlstudio.core.errors import TLStudioError
from tlstudio.core.progress import JobState, check, set_progress
from tlstudio.core.headsearch import search as hs

FRACTIONS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
REPEATS = 3
FOLDS = 5
# The heads: linear, AdamW at the search's middle weight decay, a few large batches per epoch
# (the batched trainer's cost is per step; ~90 heads share each step).
LR = 1e-2
WEIGHT_DECAY = 1e-2
STEPS_PER_EPOCH = 4
EPOCHS = hs.MAX_EPOCHS
INPUT_DIM = hs.HIDDEN_INPUT_DIM   # heads fit on this many principal components of standardised features ...
PCA_ABOVE = 2 * INPUT_DIM         # ... when there are more samples than this
MIN_SAMPLES = 20                 # fewer labelled samples: no curves
EXPONENTS = tuple(float(c) for c in np.geomspace(0.05, 3.0, 61))
MIN_POINTS = 4                   # distinct sample counts a fit needs
SE_FLOOR = 0.01                  # a point's standard error is at least this (fit weights)
TRUST_RMSE = 0.03                # a fit whose residuals exceed max(this, 2 x the points' noise) is not trusted
MIN_GAIN = 0.01                  # a doubling that adds less than this is "unlikely to help"
NEAR_PERFECT = 0.99


class CurveError(TLStudioError):
    """Learning curves cannot be computed for this data (too few samples or classes)."""


@dataclass
class PowerLaw:
    """``value(n) = a - b * n**(-c)``, fitted to one curve."""

    a: float
    b: float
    c: float
    rmse: float                  # root mean squared residual at the measured points
    noise: float                 # mean standard error of the measured points (over repeats)
    trusted: bool

    def __call__(self, n) -> np.ndarray | float:
        value = self.a - self.b * np.power(np.asarray(n, dtype=float), -self.c)
        return np.clip(value, 0.0, 1.0)

    def gain(self, n: float, factor: float = 2.0) -> float:
        """The fitted rise from ``n`` to ``factor * n`` training samples."""
        return float(self(factor * n) - self(n))

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "c": self.c, "rmse": self.rmse, "noise": self.noise,
                "trusted": self.trusted}


def fit_power_law(n: np.ndarray, values: np.ndarray, se: np.ndarray | None = None) -> PowerLaw | None:
    """Fit ``a - b * n**(-c)`` to the points (see the module docstring); None with too few points."""
    n = np.asarray(n, dtype=float)
    values = np.asarray(values, dtype=float)
    se = np.full_like(values, SE_FLOOR) if se is None else np.maximum(np.asarray(se, dtype=float), SE_FLOOR)
    keep = np.isfinite(values) & (n > 0)
    n, values, se = n[keep], values[keep], se[keep]
    if len(np.unique(n)) < MIN_POINTS:
        return None
    w = 1.0 / se ** 2
    best = None
    for i, c in enumerate(EXPONENTS):
        u = np.power(n, -c)
        a, b = _weighted_line(u, values, w)
        if b < 0:                       # the curve may not fall: flat at the weighted mean
            a, b = float(np.sum(w * values) / np.sum(w)), 0.0
        if a > 1.0:                     # a ceiling above perfect: pin it at 1, refit b
            a = 1.0
            b = max(0.0, float(np.sum(w * u * (a - values)) / np.sum(w * u * u)))
        sse = float(np.sum(w * (values - (a - b * u)) ** 2))
        if best is None or sse < best[0] - 1e-12:
            best = (sse, a, b, c, i)
    _, a, b, c, i = best
    residual = values - (a - b * np.power(n, -c))
    rmse = float(np.sqrt(np.mean(residual ** 2)))
    noise = float(np.mean(se))
    inside = 0 < i < len(EXPONENTS) - 1 or b == 0.0
    trusted = bool(rmse <= max(TRUST_RMSE, 2 * noise) and inside)
    return PowerLaw(float(a), float(b), float(c), rmse, noise, trusted)


def _weighted_line(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising sum w (y - (a - b u))^2."""
    sw = np.sum(w)
    mu, my = np.sum(w * u) / sw, np.sum(w * y) / sw
    var = np.sum(w * (u - mu) ** 2)
    if var <= 0:
        return float(my), 0.0
    slope = np.sum(w * (u - mu) * (y - my)) / var     # y = my + slope (u - mu) -> b = -slope
    return float(my - slope * mu), float(-slope)


# --------------------------------------------------------------------------- the curves

@dataclass
class LearningCurves:
    classes: list[str]
    fractions: list[float]
    n_train: np.ndarray             # [F] mean training samples per head at each fraction
    n_class: np.ndarray             # [F, C] mean training samples of each class per head
    accuracy: np.ndarray            # [F, R] out-of-fold accuracy per fraction and repeat
    recall: np.ndarray              # [F, R, C] out-of-fold recall per class
    counts: np.ndarray              # [C] labelled samples of each class (what the final model trains on)
    overall: PowerLaw | None
    per_class: list[PowerLaw | None]
    folds: int
    noun: str = "images"
    seconds: float = 0.0
    texts: list[str] = field(default_factory=list)

    @property
    def accuracy_mean(self) -> np.ndarray:
        return self.accuracy.mean(1)

    @property
    def recall_mean(self) -> np.ndarray:
        return self.recall.mean(1)

    def table(self) -> list[dict]:
        """One row per fraction: samples, accuracy (mean, spread) and each class's recall."""
        rows = []
        for f, frac in enumerate(self.fractions):
            rows.append({"fraction": frac, "samples": float(self.n_train[f]),
                         "accuracy": float(self.accuracy[f].mean()), "accuracy_std": float(self.accuracy[f].std()),
                         "recall": {c: float(self.recall[f, :, i].mean()) for i, c in enumerate(self.classes)}})
        return rows

    def to_dict(self) -> dict:
        return {"fractions": list(self.fractions), "folds": self.folds, "repeats": int(self.accuracy.shape[1]),
                "seconds": round(self.seconds, 3), "counts": {c: int(k) for c, k in zip(self.classes, self.counts)},
                "table": self.table(), "fit": self.overall.to_dict() if self.overall else None,
                "class_fits": {c: (p.to_dict() if p else None) for c, p in zip(self.classes, self.per_class)},
                "texts": list(self.texts)}


def learning_curves(features, labels, classes: list[str], *, fractions=FRACTIONS, repeats: int = REPEATS,
                    folds: int = FOLDS, seed: int = 0, noun: str = "images",
                    job: JobState | None = None) -> LearningCurves:
    """Learning curves, fits and sentences for labelled features (see the module docstring).

    ``features`` [n, d] and ``labels`` [n] (class indices into ``classes``) are the
    labelled samples to learn from -- leave the test split out. ``noun`` names a
    sample in the sentences ("images", "texts").
    """
    t0 = time.perf_counter()
    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    num_classes = len(classes)
    counts = torch.bincount(y, minlength=num_classes)
    present = counts > 0
    if y.numel() < MIN_SAMPLES or int(present.sum()) < 2:
        raise CurveError(f"Learning curves need at least {MIN_SAMPLES} labelled samples in two classes.")
    if int(counts[present].min()) < 2:
        raise CurveError("Learning curves need at least two samples of every class.")
    k = max(2, min(folds, int(counts[present].min())))
    fold = hs.stratified_folds(y, k, seed)
    mean, std = hs.standardiser(x)
    xs = (x - mean) / std
    # Many samples: the heads fit on the leading principal components, so their cost falls d / INPUT_DIM
    # times; few samples cost little, and keep every feature (small-sample heads fit better on them).
    basis = hs.principal_basis(xs, INPUT_DIM) if y.numel() > PCA_ABOVE else None
    if basis is not None:
        xs = xs @ (basis @ _rotation(basis.shape[1], seed))
    fractions = sorted(float(f) for f in fractions)
    gen = torch.Generator().manual_seed(int(seed) + 31)
    # rank[r, i]: sample i's place within its class among a random order (nested subsets per repeat)
    ranks = []
    for _ in range(repeats):
        rank = torch.empty(y.numel())
        for c in torch.unique(y).tolist():
            idx = torch.nonzero(y == c).flatten()
            rank[idx] = (torch.randperm(idx.numel(), generator=gen).float() + 0.5) / idx.numel()
        ranks.append(rank)
    train_masks, val_masks = [], []
    for f in fractions:
        for r in range(repeats):
            for j in range(k):
                train_masks.append((fold != j) & (ranks[r] <= f + 1e-9))
                val_masks.append(fold == j)
    train_mask, val_mask = torch.stack(train_masks), torch.stack(val_masks)
    _ensure_each_class(train_mask, y)
    check(job)
    set_progress(job, 0, EPOCHS)
    logits = hs.fit_heldout_logits(xs, y, train_mask, val_mask, num_classes, seed=seed, lr=LR,
                                   weight_decay=WEIGHT_DECAY, batch_size=math.ceil(y.numel() / STEPS_PER_EPOCH),
                                   epochs=EPOCHS, job=job)     # checked and told each epoch
    F_, R = len(fractions), repeats
    pred = torch.zeros(F_, R, y.numel(), dtype=torch.long)
    n_train = np.zeros(F_)
    n_class = np.zeros((F_, num_classes))
    for fi in range(F_):
        for r in range(R):
            for j in range(k):
                m = (fi * R + r) * k + j
                held = val_mask[m]
                pred[fi, r, held] = logits[m][held].argmax(1)
                n_train[fi] += float(train_mask[m].sum()) / (R * k)
                n_class[fi] += torch.bincount(y[train_mask[m]], minlength=num_classes).numpy() / (R * k)
    correct = (pred == y).float()                                # [F, R, n]
    accuracy = correct.mean(2).numpy()
    onehot = torch.nn.functional.one_hot(y, num_classes).float()  # [n, C]
    recall = (correct @ onehot / counts.clamp(min=1)).numpy()     # [F, R, C]

    def se(v: np.ndarray) -> np.ndarray:       # standard error of each point's mean over the repeats
        return v.std(1, ddof=1) / math.sqrt(R) if R > 1 else np.full(v.shape[0], SE_FLOOR)

    overall = fit_power_law(n_train, accuracy.mean(1), se(accuracy))
    per_class = [fit_power_law(n_class[:, i], recall[:, :, i].mean(1), se(recall[:, :, i])) if present[i] else None
                 for i in range(num_classes)]
    curves = LearningCurves(classes=list(classes), fractions=fractions, n_train=n_train, n_class=n_class,
                            accuracy=accuracy, recall=recall, counts=counts.numpy(), overall=overall,
                            per_class=per_class, folds=k, noun=noun)
    curves.texts = sentences(curves)
    curves.seconds = time.perf_counter() - t0
    set_progress(job, EPOCHS, EPOCHS)
    return curves


def dataset_curves(data, *, seed: int = 0, job: JobState | None = None) -> LearningCurves:
    """``learning_curves`` of a ``features.DatasetFeatures``: its train and validation samples (not test)."""
    keep = np.array([i for i, split in enumerate(data.splits) if split != "test"], dtype=np.int64)
    from tlstudio.core.data.modality import modality_for

    noun = modality_for(getattr(data, "task", "image")).noun
    return learning_curves(data.features[keep], data.labels[keep], list(data.classes), seed=seed, noun=noun,
                           job=job)


def _rotation(k: int, seed: int) -> torch.Tensor:
    """A random orthogonal [k, k] matrix. Principal components have very unequal spreads, and Adam's
    per-coordinate steps would then act like whitening (amplifying the faint, noisy components and
    wrecking small-sample heads); rotated, every coordinate mixes all components evenly, as the
    standardised features did."""
    g = torch.Generator().manual_seed(int(seed) + 577)
    q, r = torch.linalg.qr(torch.randn(k, k, generator=g))
    return q * torch.sign(torch.diagonal(r))


def _ensure_each_class(train_mask: torch.Tensor, y: torch.Tensor) -> None:
    """Every head sees at least one sample of each class of its fold's training part (tiny fractions)."""
    for m in range(train_mask.shape[0]):
        seen = set(torch.unique(y[train_mask[m]]).tolist())
        for c in torch.unique(y).tolist():
            if c not in seen:
                train_mask[m, int(torch.nonzero(y == c).flatten()[0])] = True


# --------------------------------------------------------------------------- sentences

def _points(v: float) -> str:
    """A rise as percentage points: "1 point", "4 points"."""
    k = max(1, round(v * 100))
    return f"{k} point" if k == 1 else f"{k} points"


def sentences(curves: LearningCurves) -> list[str]:
    """Plain sentences: where more data pays, where it does not, where the curves cannot tell."""
    noun = curves.noun
    out: list[str] = []
    last_acc = float(curves.accuracy_mean[-1])
    fit = curves.overall
    total = int(curves.counts.sum())
    if fit is not None and fit.trusted:
        gain = fit.gain(curves.n_train[-1])
        if gain >= MIN_GAIN:
            out.append(f"Overall: about {total} more {noun} (twice as many, spread like now) would raise "
                       f"accuracy by ~{_points(gain)} ({last_acc:.0%} → {last_acc + gain:.0%}); "
                       f"the fitted ceiling is ~{min(fit.a, 1.0):.0%}.")
        else:
            out.append(f"More data is unlikely to help: twice as many {noun} would add less than "
                       f"{_points(MIN_GAIN)} of accuracy ({last_acc:.0%} now). Better labels, a larger "
                       "model or fine-tuning are the places to look.")
    else:
        out.append(f"Overall accuracy at {last_acc:.0%}; the curve is too noisy or too short to extrapolate, "
                   "so no estimate for more data.")
    gains, flat, noisy = [], [], []
    for i, name in enumerate(curves.classes):
        law = curves.per_class[i]
        if law is None:
            continue
        now = float(curves.recall_mean[-1, i])
        if not law.trusted:
            noisy.append(name)
            continue
        gain = law.gain(curves.n_class[-1, i])
        if gain >= MIN_GAIN and now < NEAR_PERFECT:
            gains.append((gain, name, int(curves.counts[i]), now))
        else:
            flat.append(name)
    for gain, name, count, now in sorted(gains, reverse=True):
        out.append(f"About {count} more {noun} of class '{name}' would raise its recall by ~{_points(gain)} "
                   f"({now:.0%} → {now + gain:.0%}).")
    if flat:
        out.append(f"More {noun} are unlikely to help for {_names(flat)}: twice as many would add less than "
                   f"{_points(MIN_GAIN)} of recall, or recall is already near perfect.")
    if noisy:
        out.append(f"No estimate for {_names(noisy)}: the recall curve is too noisy to extrapolate.")
    return out


def _names(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def format_curves(curves: LearningCurves | dict) -> str:
    """The curves as a text table plus the sentences (from ``LearningCurves`` or its ``to_dict()``)."""
    d = curves.to_dict() if isinstance(curves, LearningCurves) else curves
    classes = list(d["counts"])
    width = max([8] + [min(len(c), 12) for c in classes])
    head = f"  {'data':>5} {'samples':>7} {'accuracy':>9}  " + " ".join(f"{c[:12]:>{width}}" for c in classes)
    lines = [f"How much more data ({d['folds']}-fold out-of-fold, {d['repeats']} repeats, {d['seconds']:.1f} s):",
             head]
    for row in d["table"]:
        lines.append(f"  {row['fraction']:>5.0%} {row['samples']:>7.0f} {row['accuracy']:>6.1%}±{row['accuracy_std'] * 100:<2.0f}"
                     + " " + " ".join(f"{row['recall'][c]:>{width}.1%}" for c in classes))
    lines.append("  (accuracy and per-class recall; samples = training samples per head)")
    lines += [f"- {t}" for t in d["texts"]]
    return "\n".join(lines)


__all__ = ["CurveError", "FRACTIONS", "dataset_curves", "LearningCurves", "PowerLaw", "fit_power_law", "format_curves",
           "learning_curves", "sentences"]

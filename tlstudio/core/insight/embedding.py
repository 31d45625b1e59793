"""A 2-D map of cached features: PCA, then exact t-SNE in torch.

**Why t-SNE in torch, no new dependency.** scikit-learn (t-SNE) or umap-learn
(UMAP, which pulls in numba and llvmlite) would add tens to hundreds of MB to
the installer for one plot; exact t-SNE is ~100 lines of tensor code on top of
torch, which the app already ships. Exact t-SNE costs O(n^2) per iteration,
fine up to ``MAX_POINTS`` (a few thousand); above that a stratified random
subset is mapped and ``EmbeddingMap.note`` says so.

**The method** (van der Maaten & Hinton 2008, with today's usual settings):
features are standardised and reduced by PCA to ``PCA_DIMS``; each point's
Gaussian bandwidth is found by bisection so its neighbour distribution has the
given perplexity; the joint affinities are symmetrised; the map starts from
the first two principal components scaled to a small spread (Kobak & Berens
2019: a PCA start keeps the global layout and makes the result deterministic);
gradient descent with momentum and per-coordinate gains, early exaggeration
for the first quarter, learning rate ``max(n / exaggeration, 50)`` (Belkina et
al. 2019). The same features and seed give the same map (the seed only picks
the subset).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from tlstudio.core.errors import TLStudioError
from tlstudio.core.progress import JobState, check, set_progress

MAX_POINTS = 2000
PCA_DIMS = 50
PERPLEXITY = 30.0
ITERATIONS = 750
EXAGGERATION = 12.0
EXAGGERATION_ITERATIONS = 200
CHECK_EVERY = 10                   # iterations between cancel checks and progress reports


@dataclass
class EmbeddingMap:
    xy: np.ndarray          # [m, 2] float32 map coordinates
    index: np.ndarray       # [m] int64: the input row each point shows
    note: str               # "" or what was left out (a subset above MAX_POINTS)
    perplexity: float
    seconds: float

    def to_dict(self) -> dict:
        return {"xy": self.xy.tolist(), "index": self.index.tolist(), "note": self.note,
                "perplexity": self.perplexity, "seconds": round(self.seconds, 3)}


def subsample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Row indices of at most ``limit`` samples, each class keeping its share (sorted)."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        take = max(1, limit * rows.size // n)          # floor: the total stays within the limit
        keep.append(rng.choice(rows, size=min(take, rows.size), replace=False))
    return np.sort(np.concatenate(keep))


def pca(x: torch.Tensor, dims: int = PCA_DIMS) -> torch.Tensor:
    """Standardised features projected on their top ``dims`` principal components (SVD; deterministic)."""
    x = x.float()
    x = (x - x.mean(0)) / x.std(0).clamp(min=1e-6)
    if x.shape[1] <= dims:
        return x
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    comps = u[:, :dims] * s[:dims]
    # fix each component's sign (largest loading positive) so the map does not mirror between runs
    signs = torch.sign(comps.gather(0, comps.abs().argmax(0, keepdim=True)))
    return comps * torch.where(signs == 0, torch.ones_like(signs), signs)


def effective_perplexity(perplexity: float, n: int) -> float:
    """The perplexity used for ``n`` points: at most a tenth of them (at least 5), so a small set still
    forms local groups instead of one evenly spread cloud."""
    return float(min(perplexity, max(5.0, n / 10), (n - 1) / 3))


def joint_probabilities(x: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Symmetric t-SNE affinities P [n, n] (sum 1), each row's bandwidth set by bisection on perplexity."""
    n = x.shape[0]
    d = torch.cdist(x, x).pow_(2).double()
    d.fill_diagonal_(float("inf"))
    target = math.log(effective_perplexity(perplexity, n))
    lo = torch.full((n, 1), -50.0, dtype=torch.float64)       # log beta (precision) bounds
    hi = torch.full((n, 1), 50.0, dtype=torch.float64)
    scale = d[torch.isfinite(d)].median()
    d = d / scale
    for _ in range(64):
        mid = (lo + hi) / 2
        logits = -d * mid.exp()
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp(min=1e-300))).sum(1, keepdim=True)
        too_flat = entropy > target                              # too wide: raise the precision
        lo = torch.where(too_flat, mid, lo)
        hi = torch.where(too_flat, hi, mid)
    p = torch.softmax(-d * ((lo + hi) / 2).exp(), dim=1)
    p = (p + p.T) / (2 * n)
    return p.clamp(min=1e-12).float()


def tsne(x: torch.Tensor, *, perplexity: float = PERPLEXITY, iterations: int = ITERATIONS,
         job: JobState | None = None) -> torch.Tensor:
    """Exact t-SNE of the rows of ``x`` [n, k] into 2-D (see the module docstring)."""
    n = x.shape[0]
    if n < 4:
        return torch.zeros(n, 2) if n else torch.zeros(0, 2)
    p = joint_probabilities(x, perplexity)
    start = x[:, :2] if x.shape[1] >= 2 else torch.cat([x, torch.zeros(n, 1)], 1)
    y = (start - start.mean(0)) / start[:, 0].std().clamp(min=1e-12) * 1e-4
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    lr = max(n / EXAGGERATION, 50.0)
    exaggerate = min(EXAGGERATION_ITERATIONS, iterations // 4)
    for it in range(iterations):
        if it % CHECK_EVERY == 0:
            check(job)
            set_progress(job, it, iterations)
        factor = EXAGGERATION if it < exaggerate else 1.0
        momentum = 0.5 if it < exaggerate else 0.8
        sq = (y * y).sum(1)
        # Student-t kernel 1 / (1 + |yi - yj|^2), in place (n^2 buffers dominate the time)
        num = torch.addmm(sq[:, None] + sq[None, :], y, y.T, alpha=-2.0).clamp_(min=0).add_(1.0).reciprocal_()
        num.fill_diagonal_(0.0)
        q_scale = 1.0 / float(num.sum())
        w = torch.mul(p, factor).sub_(num, alpha=q_scale).mul_(num)   # (P - Q) * kernel, [n, n]
        grad = 4.0 * (w.sum(1, keepdim=True) * y - w @ y)
        same = torch.sign(grad) == torch.sign(velocity)
        gains = torch.where(same, gains * 0.8, gains + 0.2).clamp(min=0.01)
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    set_progress(job, iterations, iterations)
    return y


def embed(features, labels=None, *, seed: int = 0, max_points: int = MAX_POINTS, perplexity: float = PERPLEXITY,
          iterations: int = ITERATIONS, job: JobState | None = None) -> EmbeddingMap:
    """The 2-D map of ``features`` [n, d] (``labels`` only steer the subset above ``max_points``)."""
    t0 = time.perf_counter()
    feats = np.asarray(features, dtype=np.float32)
    n = feats.shape[0]
    if n < 2:
        raise TLStudioError("An embedding map needs at least two samples.")
    labels = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels)
    index = subsample(labels, max_points, seed)
    note = ""
    if index.size < n:
        note = (f"The map shows {index.size} of {n} samples (a random subset keeping each class's share): "
                f"exact t-SNE takes too long above {max_points}.")
    check(job)
    with torch.no_grad():
        x = pca(torch.from_numpy(feats[index]))
        check(job)
        xy = tsne(x, perplexity=perplexity, iterations=iterations, job=job)
    return EmbeddingMap(xy=xy.numpy().astype(np.float32), index=index.astype(np.int64), note=note,
                        perplexity=effective_perplexity(perplexity, index.size), seconds=time.perf_counter() - t0)


def knn_accuracy(points, labels, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy (majority vote): how well classes keep together."""
    x = torch.as_tensor(np.asarray(points), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    nearest = d.topk(min(k, x.shape[0] - 1), largest=False).indices
    votes = torch.nn.functional.one_hot(y[nearest], int(y.max()) + 1).sum(1)
    return float((votes.argmax(1) == y).float().mean())


__all__ = ["EmbeddingMap", "MAX_POINTS", "effective_perplexity", "embed", "joint_probabilities", "knn_accuracy", "pca", "subsample", "tsne"]

"""Contrastive tuning of the base on few labels (SetFit-style), before the head is fitted.

With a handful of labelled samples per class a head on the frozen encoder's features
learns little; moving the encoder so that samples of one class lie close together
helps more. Every step takes a class-balanced batch of the labelled samples, runs the
base on it and compares every pair in the batch: the cosine similarity of a same-class
pair is pulled towards 1, of a different-class pair towards 0 (SetFit's
``CosineSimilarityLoss``: squared error of the cosine against the pair's target). Where
SetFit draws pairs and encodes both sides of each, one batch of ``B`` samples here gives
all ``B (B - 1) / 2`` pairs for one forward pass; positive and negative pairs weigh half
each, as SetFit's balanced pair sampling does. The token embeddings stay fixed (the
bulk of a small encoder's parameters: the step is cheaper and a few dozen texts cannot
teach a vocabulary anyway); every transformer layer trains, with AdamW, a linear warm-up
and decay.

Nothing here knows the modality: the base takes collated batches of the modality's
training dataset. Whether a run tunes its base this way is the modality's choice
(``Modality.few_label_plan``) unless the Project says ("contrastive" or "off").
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from tlstudio.core.data.loaders import to_device
from tlstudio.core.progress import JobState, check, set_progress

LR = 1e-4                 # chosen on the demo texts at 8 per class (benchmarks/bench_fewshot.py)
BATCH = 32                # samples per step: up to 496 pairs
EXPOSURES = 12            # about how many steps each labelled sample takes part in
MIN_STEPS, MAX_STEPS = 16, 200
WARMUP_SHARE = 0.1


@dataclass(frozen=True)
class TuningReport:
    steps: int
    samples: int
    seconds: float
    first_loss: float
    last_loss: float
    separation_before: float     # mean same-class cosine minus mean other-class cosine, training samples
    separation_after: float

    def to_dict(self) -> dict:
        return {"method": "contrastive", "steps": self.steps, "samples": self.samples,
                "seconds": round(self.seconds, 2), "first_loss": round(self.first_loss, 5),
                "last_loss": round(self.last_loss, 5), "separation_before": round(self.separation_before, 4),
                "separation_after": round(self.separation_after, 4)}


def auto_steps(n_samples: int, batch: int = BATCH) -> int:
    """Steps for ``n_samples`` labelled samples: each takes part in about ``EXPOSURES`` batches."""
    return int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(EXPOSURES * n_samples / max(1, batch)))))


def pair_loss(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Squared error of every pair's cosine against 1 (same class) or 0; positives and negatives
    weigh half each (a batch of many classes has far more negative pairs)."""
    z = nn.functional.normalize(features.float(), dim=1)
    cos = z @ z.T
    same = labels.view(-1, 1) == labels.view(1, -1)
    upper = torch.triu(torch.ones_like(same), diagonal=1)
    pos, neg = same & upper, ~same & upper
    parts = []
    if pos.any():
        parts.append(((cos[pos] - 1.0) ** 2).mean())
    if neg.any():
        parts.append((cos[neg] ** 2).mean())
    return torch.stack(parts).mean()


def class_separation(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean cosine of same-class pairs minus that of other-class pairs (higher: classes more apart)."""
    z = nn.functional.normalize(features.float(), dim=1)
    cos = z @ z.T
    same = labels.view(-1, 1) == labels.view(1, -1)
    off = ~torch.eye(len(labels), dtype=torch.bool)
    pos, neg = same & off, ~same
    if not pos.any() or not neg.any():
        return 0.0
    return float(cos[pos].mean() - cos[neg].mean())


def balanced_batches(labels: Sequence[int], steps: int, batch: int, seed: int) -> list[list[int]]:
    """``steps`` batches of sample indices: a few samples from each of several classes, so every
    batch has same-class pairs; classes and samples drawn in turn, reshuffled when used up."""
    gen = torch.Generator().manual_seed(int(seed))
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    classes = sorted(c for c, members in by_class.items() if members)
    per_class = max(2, batch // max(1, len(classes)))
    n_classes = max(2, min(len(classes), batch // per_class))
    queues: dict[int, list[int]] = {c: [] for c in classes}
    class_queue: list[int] = []

    def take(queue: list[int], pool: list[int]) -> int:
        if not queue:
            queue.extend(pool[int(j)] for j in torch.randperm(len(pool), generator=gen))
        return queue.pop()

    out = []
    for _ in range(steps):
        chosen: list[int] = []
        picked: list[int] = []
        while len(picked) < min(n_classes, len(classes)):
            c = take(class_queue, classes)
            if c not in picked:
                picked.append(c)
        for c in picked:
            chosen += [take(queues[c], by_class[c]) for _ in range(min(per_class, len(by_class[c])))]
        out.append(chosen)
    return out


def tunable_parameters(base: nn.Module) -> list[nn.Parameter]:
    """Every parameter of the base except embedding tables (token, position, type)."""
    skip = {id(p) for m in base.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return [p for p in base.parameters() if id(p) not in skip]


def encode_items(base: nn.Module, items: Sequence, collate: Callable, device: torch.device,
                 batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of dataset ``items`` (``(input, label)`` pairs), base in eval mode."""
    feats, labels = [], []
    was = base.training
    base.eval()
    with torch.inference_mode():
        for start in range(0, len(items), batch):
            x, y = collate(list(items[start:start + batch]))
            feats.append(base(to_device(x, device)).float().cpu())
            labels.append(y)
    base.train(was)
    return torch.cat(feats), torch.cat(labels)


def tune_base(base: nn.Module, items: Sequence, collate: Callable, *, device: torch.device | str = "cpu",
              steps: int | None = None, batch: int = BATCH, lr: float = LR, seed: int = 0,
              job: JobState | None = None,
              on_step: Callable[[int, int, float, float], None] | None = None,
              frozen: tuple[torch.Tensor, torch.Tensor] | None = None) -> TuningReport:
    """Tune ``base`` in place on the labelled ``items`` (a modality's training dataset items:
    ``(input, label)``); ``collate`` makes a batch of them. ``check(job)`` between steps (cancel,
    pause), ``set_progress(job, step, steps)`` and ``on_step(step, steps, loss, eta_s)`` (for events)
    after each. The base ends in eval mode with every parameter's ``requires_grad`` as it was.
    ``frozen``: ``encode_items`` of the untuned base on ``items`` when the caller has it already (the
    few-label probe does)."""
    device = torch.device(device)
    items = list(items)
    labels = [int(y) for _, y in items]
    steps = int(steps or auto_steps(len(items), batch))
    t0 = time.perf_counter()
    base.to(device)
    before_feats, y_all = frozen if frozen is not None else encode_items(base, items, collate, device)
    before = class_separation(before_feats, y_all)
    grad_was = {id(p): p.requires_grad for p in base.parameters()}
    params = tunable_parameters(base)
    for p in base.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, int(steps * WARMUP_SHARE))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        base.train()
        try:
            for step, chosen in enumerate(balanced_batches(labels, steps, batch, seed), start=1):
                check(job)
                x, y = collate([items[i] for i in chosen])
                loss = pair_loss(base(to_device(x, device)), y.to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
                set_progress(job, step, steps)
                if on_step is not None:
                    spent = time.perf_counter() - t0
                    on_step(step, steps, losses[-1], spent / step * (steps - step))
        finally:
            base.eval()
            for p in base.parameters():
                p.requires_grad_(grad_was.get(id(p), False))
    after_feats, _ = encode_items(base, items, collate, device)
    return TuningReport(steps=steps, samples=len(items), seconds=time.perf_counter() - t0,
                        first_loss=losses[0], last_loss=losses[-1], separation_before=before,
                        separation_after=class_separation(after_feats, y_all))

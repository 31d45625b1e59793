"""The epoch loop: batches in, loss/accuracy out, with progress and cancel checks.

Two batch sources feed it: ``FeatureBatches`` (stored base features; the head
alone runs) and ``SampleBatches`` (inputs read by the modality's datasets;
the whole model runs). Both visit the training set in the same seeded order,
so with deterministic transforms they train the head on the same batches.

The loop's state is explicit: the Trainer creates one ``RunState`` per run
and hands it to ``StageData`` and to each ``StageLoop``; they report, check
for cancel, count and checkpoint through it and nothing else.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from tlstudio.core import events as ev
from tlstudio.core.train.distributed import SINGLE, Dist
from tlstudio.core.train.checkpoints import CheckpointWriter, Snapshotter, copy_tree, rng_state
from tlstudio.core.errors import TrainingError
from tlstudio.core.features.cache import CachedFeatures, gather_rows
from tlstudio.core.task_types import SingleLabelTask
from tlstudio.core.data.loaders import EpochOrder, make_loader, to_device
from tlstudio.core.progress import JobState, Throttle, check


def _no_best() -> dict:
    return {"val_acc": None, "val_loss": None, "epoch": 0, "stage": 0}


@dataclass
class RunState:
    """What one training run shares between the Trainer, its StageData and each StageLoop.

    ``emit`` reports an event; ``check(job)`` raises ``Cancelled`` when the run
    must stop (and blocks while paused). The loop appends each epoch to
    ``history``, replaces ``best``, offers checkpoints to ``writer`` and adds
    every sample run through the base to ``base_forward_images``.
    """

    emit: Callable[[ev.Event], None]
    job: JobState | None = None
    progress_interval: float = 0.1           # seconds between BatchProgress events
    num_workers: int | None = None           # decoding workers; None: loaders.auto_workers decides
    device: torch.device | None = None       # set once resolved
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=_no_best)
    writer: CheckpointWriter | None = None
    split_hash: str = ""                     # identifies the split in checkpoints (resume checks it)
    base_forward_images: int = 0
    cached_features: bool = False
    dist: Dist = SINGLE                      # this process's rank (torchrun); alone: rank 0 of 1


def epoch_order(n: int, seed: int, stage: int, epoch: int) -> torch.Tensor:
    """The training order of one epoch: the same for the same (seed, stage, epoch), resume included."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + stage * 10_007 + epoch)
    return torch.randperm(n, generator=g)


def _targets(labels) -> torch.Tensor:
    return labels if isinstance(labels, torch.Tensor) else torch.tensor(list(labels), dtype=torch.long)


class FeatureBatches:
    """Batches of stored features; training cycles through the cached views by epoch."""

    runs_base = False      # the base does not run on these batches

    def __init__(self, entry: CachedFeatures, train_labels, val_labels, batch_size: int, device: torch.device):
        """``train_labels``/``val_labels``: class indices (a list or tensor), or a kind's target tensor."""
        self.entry = entry.to(device)
        self.device = device
        self.batch_size = batch_size
        self.train_labels = _targets(train_labels)
        self.val_labels = _targets(val_labels)
        self.n_train, self.n_val = len(self.train_labels), len(self.val_labels)

    @staticmethod
    def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model.head(x)

    @staticmethod
    def module(model: nn.Module) -> nn.Module:
        """The part of the model that runs on these batches."""
        return model.head

    def train_batches(self, order: torch.Tensor, stage: int, epoch: int) -> Iterator:
        rows = self.entry.train_view(epoch - 1)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield gather_rows(rows, idx), self.train_labels[idx]

    def val_batches(self) -> Iterator:
        rows = self.entry.val_rows()
        for start in range(0, self.n_val, self.batch_size):
            idx = torch.arange(start, min(start + self.batch_size, self.n_val))
            yield gather_rows(rows, idx), self.val_labels[idx]

    def close(self) -> None:
        pass


class SampleBatches:
    """Batches from a modality's datasets through DataLoaders; the whole model runs on them.

    ``train`` follows the modality's round contract (item ``k``: sample
    ``k % n`` in round ``k // n``), so each (stage, epoch) is its own round of
    per-sample seeded augmentation.
    """

    runs_base = True

    def __init__(self, train, val, batch_size: int, *, workers: int, pin_memory: bool,
                 collate: Callable | None = None, arrange: Callable | None = None):
        self.n_train, self.n_val = len(train), len(val)
        self.arrange = arrange      # (order, stage, epoch) -> the epoch's order (text: length buckets) or None
        self.sampler = EpochOrder(self.n_train)
        self.train_loader = make_loader(train, batch_size, sampler=self.sampler, num_workers=workers,
                                        pin_memory=pin_memory, persistent=workers > 0, collate=collate)
        self.val_loader = make_loader(val, batch_size, num_workers=workers, pin_memory=pin_memory,
                                      persistent=workers > 0, collate=collate)

    @staticmethod
    def forward(model: nn.Module, x) -> torch.Tensor:
        return model(x)

    @staticmethod
    def module(model: nn.Module) -> nn.Module:
        return model

    def train_batches(self, order: torch.Tensor, stage: int, epoch: int) -> Iterator:
        items = order.tolist()
        arranged = self.arrange(items, stage, epoch) if self.arrange is not None else None
        self.sampler.set(items if arranged is None else arranged, (stage - 1) * 100_000 + epoch - 1)
        return iter(self.train_loader)

    def val_batches(self) -> Iterator:
        return iter(self.val_loader)

    def close(self) -> None:
        # Persistent workers end with their iterator; dropping the loader releases them.
        self.train_loader = self.val_loader = None


@dataclass
class EpochStats:
    loss: float
    acc: float
    lr: float
    images: int


class LoopContext:
    """What stays fixed during a stage: model, optimizer, schedule, loss, device, precision."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, schedule, criterion: nn.Module,
                 device: torch.device, autocast_dtype: torch.dtype | None, channels_last: bool,
                 kind: SingleLabelTask | None = None):
        self.kind = kind if kind is not None else SingleLabelTask(0)     # task_types: accuracy and plain loss
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.criterion = criterion
        self.device = device
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        # float16 autocast needs loss scaling; bfloat16 does not.
        self.scaler = (torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 and device.type == "cuda"
                       else None)

    def move(self, x: Any, y: torch.Tensor):
        """A batch on the stage's device (inputs channels_last when the stage uses it)."""
        return to_device(x, self.device, channels_last=self.channels_last), y.to(self.device, non_blocking=True)

    def call(self, forward, x):
        """``forward(model, x)`` under the stage's mixed precision."""
        if self.autocast_dtype is None:
            return forward(self.model, x)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return forward(self.model, x)


def nan_error(stage: int, epoch: int) -> TrainingError:
    return TrainingError(f"Training stopped: the loss became NaN or infinite (stage {stage}, epoch {epoch}); "
                         "lower the learning rate and try again.")


def train_epoch(ctx: LoopContext, source, batches: Iterator, *, stage: int, epoch: int,
                on_batch: Callable[[int, float, int], None], job: JobState | None = None) -> EpochStats:
    """One pass over the training batches. ``on_batch(batch, loss, images_so_far)`` after each step;
    ``check(job)`` after each step raises ``Cancelled`` to stop."""
    opt = ctx.optimizer
    loss_sum = torch.zeros((), device=ctx.device)
    correct = torch.zeros((), dtype=torch.float64, device=ctx.device)
    seen = 0
    lr = ctx.schedule.lr
    for i, (x, y) in enumerate(batches, start=1):
        x, y = ctx.move(x, y)
        logits = ctx.call(source.forward, x)
        loss = ctx.criterion(logits.float(), y)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise nan_error(stage, epoch)
        opt.zero_grad(set_to_none=True)
        if ctx.scaler is not None:
            ctx.scaler.scale(loss).backward()
            ctx.scaler.step(opt)
            ctx.scaler.update()
        else:
            loss.backward()
            opt.step()
        lr = ctx.schedule.lr
        ctx.schedule.after_batch()
        n = y.shape[0]
        seen += n
        loss_sum += loss.detach() * n
        correct += ctx.kind.hits(logits.detach().float(), y).sum()
        on_batch(i, value, seen)
        check(job)
    if seen == 0:
        raise TrainingError("There are no training images in this split.")
    return EpochStats(float(loss_sum) / seen, float(correct) / seen, lr, seen)


def evaluate_batches(ctx: LoopContext, source, batches: Iterator, job: JobState | None = None) -> tuple[float, float]:
    """(loss, score) with the plain loss (cross-entropy; multi-label: binary cross-entropy), comparable
    across loss settings; the score is the kind's (accuracy; multi-label: micro-F1 at 0.5).

    Leaves the running module in eval mode; the trainer sets train mode again each epoch.
    """
    source.module(ctx.model).eval()
    loss_sum, seen = 0.0, 0
    all_logits, all_y = [], []
    with torch.inference_mode():
        for x, y in batches:
            check(job)
            x, y = ctx.move(x, y)
            logits = ctx.call(source.forward, x).float()
            loss_sum += float(ctx.kind.per_sample_loss(logits, y).sum())
            all_logits.append(logits.cpu())
            all_y.append(y.cpu())
            seen += y.shape[0]
    if seen == 0:
        return float("nan"), float("nan")
    return loss_sum / seen, ctx.kind.score(torch.cat(all_logits), torch.cat(all_y))


class StageLoop:
    """The epochs of one stage: train, validate, report, keep the best, stop early, checkpoint.

    ``run`` is the run's shared state and ``training`` the Project's training
    settings (seed, early stopping).
    """

    def __init__(self, run: RunState, training, stage: int, epochs: int, n_batches: int, ctx: LoopContext,
                 source, early_stopping: dict, snapshot: Snapshotter):
        self.state, self.training = run, training
        self.stage, self.epochs, self.n_batches = stage, epochs, n_batches
        self.ctx, self.source, self.es, self.snapshot = ctx, source, early_stopping, snapshot
        self.clock = Throttle(run.progress_interval)
        self.started = time.perf_counter()
        self.batches_done = 0
        # The base stays in eval mode when frozen; only the head switches to train mode.
        self.train_module = ctx.model.head if snapshot.base is not None else ctx.model

    def run(self, start_epoch: int) -> None:
        run, t = self.state, self.training
        for epoch in range(start_epoch, self.epochs + 1):
            check(run.job)
            self.train_module.train()
            t0 = time.perf_counter()
            order = epoch_order(self.source.n_train, t.seed, self.stage, epoch)
            batches = self.source.train_batches(order, self.stage, epoch)
            stats = train_epoch(self.ctx, self.source, batches, stage=self.stage, epoch=epoch,
                                on_batch=lambda i, loss, seen: self._progress(epoch, t0, i, loss, seen),
                                job=run.job)
            val_loss, val_acc = evaluate_batches(self.ctx, self.source, self.source.val_batches(), run.job)
            if self.source.runs_base:
                run.base_forward_images += stats.images + self.source.n_val
                # torchrun: each rank ran its share; the epoch's figures are over all of them
                (val_loss, val_acc), _ = run.dist.weighted_mean((val_loss, val_acc), self.source.n_val)
                (train_loss, train_acc), images = run.dist.weighted_mean((stats.loss, stats.acc), stats.images)
                stats = EpochStats(train_loss, train_acc, stats.lr, images)
            self.ctx.schedule.after_epoch(val_loss)
            ended = ev.EpochEnded(stage=self.stage, epoch=epoch, train_loss=stats.loss, train_acc=stats.acc,
                                  val_loss=val_loss, val_acc=val_acc, lr=stats.lr,
                                  seconds=time.perf_counter() - t0)
            run.history.append(ended.to_dict())
            run.emit(ended)
            if not (math.isfinite(stats.loss) and math.isfinite(val_loss)) or not self._weights_finite():
                raise nan_error(self.stage, epoch)     # never offered as "best", never checkpointed
            state = self.snapshot()
            if self._is_best(val_acc, val_loss):
                run.best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch, "stage": self.stage}
                run.writer.offer_best(state, self.stage, epoch, val_acc)
            self._early_stopping(val_acc, val_loss)
            run.writer.offer_last({
                "model": state, "optimizer": copy_tree(self.ctx.optimizer.state_dict()),
                "schedule": copy_tree(self.ctx.schedule.state_dict()), "stage": self.stage, "epoch": epoch,
                "history": list(run.history), "best": dict(run.best), "early_stopping": dict(self.es),
                "rng": rng_state(), "split": run.split_hash})
            if self.es["stopped"] or epoch == self.epochs:
                run.writer.flush()
                return
            run.writer.maybe_flush()

    def _weights_finite(self) -> bool:
        """One device sync: are all trained parameters finite?"""
        flags = [torch.isfinite(p.detach()).all() for p in self.train_module.parameters() if p.is_floating_point()]
        return bool(torch.stack(flags).all()) if flags else True

    def _progress(self, epoch: int, t0: float, i: int, loss: float, seen: int) -> None:
        self.batches_done += 1
        if not self.clock.due(final=i == self.n_batches):
            return
        now = time.perf_counter()
        per_batch = (now - self.started) / self.batches_done
        left = (self.epochs - epoch) * self.n_batches + (self.n_batches - i)
        self.state.emit(ev.BatchProgress(stage=self.stage, epoch=epoch, batch=i, batches=self.n_batches,
                                         loss=loss, images_per_second=seen / max(now - t0, 1e-9),
                                         eta_seconds=left * per_batch))

    def _is_best(self, val_acc: float, val_loss: float) -> bool:
        """Best by validation accuracy; ties go to the lower validation loss."""
        best = self.state.best
        if best["val_acc"] is None:
            return True
        return val_acc > best["val_acc"] or (val_acc == best["val_acc"] and val_loss < best["val_loss"])

    def _early_stopping(self, val_acc: float, val_loss: float) -> None:
        t, es = self.training, self.es
        value = val_acc if t.early_stopping_metric == "val_acc" else -val_loss
        if es["best"] is None or value > es["best"]:
            es["best"], es["bad"] = value, 0
        else:
            es["bad"] += 1
        if t.early_stopping_patience > 0 and es["bad"] >= t.early_stopping_patience:
            es["stopped"] = True

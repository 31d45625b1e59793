"""The epoch loop: batches in, loss/accuracy out, with progress and cancel checks.

Two batch sources feed it: ``FeatureBatches`` (stored base features; the head
alone runs) and ``ImageBatches`` (decoded images; the whole model runs). Both
visit the training set in the same seeded order, so with deterministic
transforms they train the head on the same batches.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from tlstudio.core.train import events as ev
from tlstudio.core.train.checkpoints import copy_tree, rng_state
from tlstudio.core.errors import TrainingError
from tlstudio.core.train.feature_cache import CachedFeatures, gather_rows
from tlstudio.core.data.loaders import EpochOrder, ImageItem, SeededImages, make_loader
from tlstudio.core.progress import Throttle


def epoch_order(n: int, seed: int, stage: int, epoch: int) -> torch.Tensor:
    """The training order of one epoch: the same for the same (seed, stage, epoch), resume included."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + stage * 10_007 + epoch)
    return torch.randperm(n, generator=g)


class FeatureBatches:
    """Batches of stored features; training cycles through the cached views by epoch."""

    images_run_through_base = False

    def __init__(self, entry: CachedFeatures, train_labels: Sequence[int], val_labels: Sequence[int],
                 batch_size: int, device: torch.device):
        self.entry = entry.to(device)
        self.device = device
        self.batch_size = batch_size
        self.train_labels = torch.tensor(list(train_labels), dtype=torch.long)
        self.val_labels = torch.tensor(list(val_labels), dtype=torch.long)
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


class ImageBatches:
    """Decoded image batches from DataLoaders; training augments with a per-(image, epoch) seed."""

    images_run_through_base = True

    def __init__(self, train_items: Sequence[ImageItem], val_items: Sequence[ImageItem],
                 transforms: Sequence[Callable], batch_size: int, *, workers: int, pin_memory: bool,
                 channels_last: bool):
        self.n_train, self.n_val = len(train_items), len(val_items)
        self.channels_last = channels_last
        self.sampler = EpochOrder(self.n_train)
        self.train_loader = make_loader(SeededImages(train_items, transforms), batch_size,
                                        sampler=self.sampler, num_workers=workers,
                                        pin_memory=pin_memory, persistent=workers > 0)
        self.val_loader = make_loader(SeededImages(val_items, transforms), batch_size,
                                      num_workers=workers, pin_memory=pin_memory, persistent=workers > 0)

    @staticmethod
    def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)

    @staticmethod
    def module(model: nn.Module) -> nn.Module:
        return model

    def train_batches(self, order: torch.Tensor, stage: int, epoch: int) -> Iterator:
        self.sampler.set(order.tolist(), (stage - 1) * 100_000 + epoch - 1)
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
                 device: torch.device, autocast_dtype: torch.dtype | None, channels_last: bool):
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

    def _inputs(self, x: torch.Tensor, y: torch.Tensor):
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def _forward(self, forward, x):
        if self.autocast_dtype is None:
            return forward(self.model, x)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return forward(self.model, x)


def nan_error(stage: int, epoch: int) -> TrainingError:
    return TrainingError(f"Training stopped: the loss became NaN or infinite (stage {stage}, epoch {epoch}); "
                         "lower the learning rate and try again.")


def train_epoch(ctx: LoopContext, source, batches: Iterator, *, stage: int, epoch: int,
                on_batch: Callable[[int, float, int], None], check: Callable[[], None]) -> EpochStats:
    """One pass over the training batches. ``on_batch(batch, loss, images_so_far)`` after each step;
    ``check()`` after each step raises ``Cancelled`` to stop."""
    opt = ctx.optimizer
    loss_sum = torch.zeros((), device=ctx.device)
    correct = torch.zeros((), dtype=torch.long, device=ctx.device)
    seen = 0
    lr = ctx.schedule.lr
    for i, (x, y) in enumerate(batches, start=1):
        x, y = ctx._inputs(x, y)
        logits = ctx._forward(source.forward, x)
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
        correct += (logits.detach().argmax(1) == y).sum()
        on_batch(i, value, seen)
        check()
    if seen == 0:
        raise TrainingError("There are no training images in this split.")
    return EpochStats(float(loss_sum) / seen, int(correct) / seen, lr, seen)


def evaluate_batches(ctx: LoopContext, source, batches: Iterator, check: Callable[[], None]) -> tuple[float, float]:
    """(loss, accuracy) with plain cross-entropy: comparable across loss settings.

    Leaves the running module in eval mode; the trainer sets train mode again each epoch.
    """
    source.module(ctx.model).eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in batches:
            check()
            x, y = ctx._inputs(x, y)
            logits = ctx._forward(source.forward, x).float()
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            seen += y.shape[0]
    if seen == 0:
        return float("nan"), float("nan")
    return loss_sum / seen, correct / seen


class StageLoop:
    """The epochs of one stage: train, validate, report, keep the best, stop early, checkpoint."""

    def __init__(self, trainer, stage: int, epochs: int, n_batches: int, ctx: LoopContext, source,
                 early_stopping: dict, snapshot: Callable[[], dict]):
        self.trainer, self.stage, self.epochs, self.n_batches = trainer, stage, epochs, n_batches
        self.ctx, self.source, self.es, self.snapshot = ctx, source, early_stopping, snapshot
        self.clock = Throttle(trainer.progress_interval)
        self.started = time.perf_counter()
        self.batches_done = 0
        # The base stays in eval mode when frozen; only the head switches to train mode.
        self.train_module = ctx.model.head if snapshot.base is not None else ctx.model

    def run(self, start_epoch: int) -> None:
        tr, t = self.trainer, self.trainer.project.training
        for epoch in range(start_epoch, self.epochs + 1):
            tr._check()
            self.train_module.train()
            t0 = time.perf_counter()
            order = epoch_order(self.source.n_train, t.seed, self.stage, epoch)
            batches = self.source.train_batches(order, self.stage, epoch)
            stats = train_epoch(self.ctx, self.source, batches, stage=self.stage, epoch=epoch,
                                on_batch=lambda i, loss, seen: self._progress(epoch, t0, i, loss, seen),
                                check=tr._check)
            val_loss, val_acc = evaluate_batches(self.ctx, self.source, self.source.val_batches(), tr._check)
            if self.source.images_run_through_base:
                tr.base_forward_images += stats.images + self.source.n_val
            self.ctx.schedule.after_epoch(val_loss)
            ended = ev.EpochEnded(stage=self.stage, epoch=epoch, train_loss=stats.loss, train_acc=stats.acc,
                                  val_loss=val_loss, val_acc=val_acc, lr=stats.lr,
                                  seconds=time.perf_counter() - t0)
            tr._history.append(ended.to_dict())
            tr._emit(ended)
            if not math.isfinite(stats.loss):
                raise nan_error(self.stage, epoch)
            state = self.snapshot()
            if self._is_best(val_acc, val_loss):
                tr._best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch, "stage": self.stage}
                tr._writer.offer_best(state, self.stage, epoch, val_acc)
            self._early_stopping(val_acc, val_loss)
            tr._writer.offer_last({
                "model": state, "optimizer": copy_tree(self.ctx.optimizer.state_dict()),
                "schedule": copy_tree(self.ctx.schedule.state_dict()), "stage": self.stage, "epoch": epoch,
                "history": list(tr._history), "best": dict(tr._best), "early_stopping": dict(self.es),
                "rng": rng_state(), "split": tr._split_hash()})
            if self.es["stopped"] or epoch == self.epochs:
                tr._writer.flush()
                return
            tr._writer.maybe_flush()

    def _progress(self, epoch: int, t0: float, i: int, loss: float, seen: int) -> None:
        self.batches_done += 1
        if not self.clock.due(final=i == self.n_batches):
            return
        now = time.perf_counter()
        per_batch = (now - self.started) / self.batches_done
        left = (self.epochs - epoch) * self.n_batches + (self.n_batches - i)
        self.trainer._emit(ev.BatchProgress(stage=self.stage, epoch=epoch, batch=i, batches=self.n_batches,
                                            loss=loss, images_per_second=seen / max(now - t0, 1e-9),
                                            eta_seconds=left * per_batch))

    def _is_best(self, val_acc: float, val_loss: float) -> bool:
        """Best by validation accuracy; ties go to the lower validation loss."""
        best = self.trainer._best
        if best["val_acc"] is None:
            return True
        return val_acc > best["val_acc"] or (val_acc == best["val_acc"] and val_loss < best["val_loss"])

    def _early_stopping(self, val_acc: float, val_loss: float) -> None:
        t, es = self.trainer.project.training, self.es
        value = val_acc if t.early_stopping_metric == "val_acc" else -val_loss
        if es["best"] is None or value > es["best"]:
            es["best"], es["bad"] = value, 0
        else:
            es["bad"] += 1
        if t.early_stopping_patience > 0 and es["bad"] >= t.early_stopping_patience:
            es["stopped"] = True

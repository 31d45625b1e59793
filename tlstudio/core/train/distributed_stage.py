"""A stage that runs the base, under torchrun: DDP over each global batch's shares.

The Project's batch size stays the *global* batch: each training step takes
the same samples as a one-process run (the same ``epoch_order``), split
across ranks (``Dist.shard`` of the batch), and ``GlobalBatchLoss`` scales
each rank's summed loss so that DDP's average of the ranks' gradients is
the gradient of the mean loss over the whole batch. The same Project
therefore takes the same steps on 1 or N processes (up to float rounding of
the sums): the number of steps, the schedule and the learning rate need no
change. To train faster per step, raise the batch size with the GPU count.

Validation: each rank evaluates a contiguous slice of the validation split
(each sample once) with the plain module (no DDP collective can wait on an
uneven last batch); the loop sums the counts over ranks (``Dist.weighted_mean``).

DDP settings: parameters that do not train are frozen (``requires_grad``
False), so DDP never reduces them; ``static_graph`` covers a model whose
forward leaves some trainable parameter unused, at no per-step cost.
``broadcast_buffers`` only when some module that trains has buffers (a
BatchNorm the user chose to train): frozen BatchNorm layers stay in eval mode
(``TransferModel.train``) and their statistics never change, so broadcasting
them every step would be pure traffic.
"""
from __future__ import annotations

import inspect
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset

from tlstudio.core.train import distributed
from tlstudio.core.train.loop import SampleBatches


# Newer torch renamed the per-forward buffer broadcast; both keep the sync at construction.
SYNC_BUFFERS = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                else "broadcast_buffers")


class GlobalBatchLoss(nn.Module):
    """Summed cross-entropy of this rank's share times ``scale`` (set per batch by the source).

    ``scale = world_size / D`` where ``D`` is the global batch's denominator of a mean
    cross-entropy (its sample count, or the sum of its samples' class weights), so
    DDP's mean over ranks equals the one-process mean loss's gradient.
    """

    def __init__(self, weight: torch.Tensor | None, label_smoothing: float):
        super().__init__()
        self.ce = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing, reduction="sum")
        self.scale = 1.0

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce(logits, target) * self.scale


class ShardedSampleBatches(SampleBatches):
    """``SampleBatches`` of this rank: its share of every global batch, its slice of validation.

    Same constructor as ``SampleBatches``; ``attach`` wraps the model in DDP and
    returns the loss the stage must use.
    """

    def __init__(self, train, val, batch_size: int, *, workers: int, pin_memory: bool,
                 collate: Callable | None = None):
        self.dist = distributed.current()
        n_val = len(val)
        lo, hi = (n_val * self.dist.rank) // self.dist.world_size, (n_val * (self.dist.rank + 1)) // self.dist.world_size
        super().__init__(train, Subset(val, range(lo, hi)), batch_size, workers=workers, pin_memory=pin_memory,
                         collate=collate)
        self.global_batch = int(batch_size)
        self._train = train
        self._workers, self._pin, self._collate = workers, pin_memory, collate
        self.ddp: DistributedDataParallel | None = None
        self.loss: GlobalBatchLoss | None = None
        self.labels: list[int] = []
        self.class_weight: torch.Tensor | None = None

    def attach(self, model: nn.Module, criterion: nn.CrossEntropyLoss, labels: Sequence[int],
               frozen_base: bool) -> GlobalBatchLoss:
        """Wrap ``model`` (already on its device) in DDP for this stage; the loss to train with."""
        if frozen_base:
            model.eval()
            model.head.train()
        else:
            model.train()
        buffers_change = any(m.training and next(m.buffers(recurse=False), None) is not None
                             for m in model.modules())
        device = next(model.parameters()).device
        self.ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                           static_graph=True, **{SYNC_BUFFERS: buffers_change})
        self.labels = [int(v) for v in labels]
        self.class_weight = None if criterion.weight is None else criterion.weight.detach().cpu()
        self.loss = GlobalBatchLoss(criterion.weight, float(criterion.label_smoothing)).to(device)
        return self.loss

    def forward(self, model: nn.Module, x) -> torch.Tensor:
        """Training steps go through DDP (gradients reduced); evaluation runs the plain module."""
        if self.ddp is not None and torch.is_grad_enabled():
            return self.ddp(x)
        return model(x)

    def _shares(self, order: Sequence[int]) -> tuple[list[list[int]], list[float]]:
        """This rank's sample indices of each global batch and each batch's loss scale."""
        world, shares, scales = self.dist.world_size, [], []
        for start in range(0, len(order), self.global_batch):
            batch = [int(i) for i in order[start:start + self.global_batch]]
            if self.class_weight is None:
                denominator = float(len(batch))
            else:
                denominator = float(sum(float(self.class_weight[self.labels[i]]) for i in batch))
            mine = self.dist.shard(batch)
            scale = world / denominator if denominator > 0 else 0.0
            if not mine:        # fewer samples than ranks: step on one sample with zero weight
                mine, scale = batch[:1], 0.0
            shares.append(mine)
            scales.append(scale)
        return shares, scales

    def train_batches(self, order: torch.Tensor, stage: int, epoch: int) -> Iterator:
        shares, scales = self._shares(order.tolist())
        offset = ((stage - 1) * 100_000 + epoch - 1) * self.n_train       # the modality's round contract
        batches = [[i + offset for i in share] for share in shares]
        extra = {"prefetch_factor": 4} if self._workers > 0 else {}
        loader = DataLoader(self._train, batch_sampler=batches, num_workers=self._workers, pin_memory=self._pin,
                            collate_fn=self._collate, generator=torch.Generator().manual_seed(0), **extra)
        for scale, batch in zip(scales, loader):
            if self.loss is not None:
                self.loss.scale = scale
            yield batch

    def close(self) -> None:
        super().close()
        self.ddp = None

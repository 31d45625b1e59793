"""Optimizers, parameter groups and learning-rate schedules for the trainer.

Only parameters that require grad go into the optimizer (rebuilt for each
stage). Biases and normalisation weights (1-D tensors) get no weight decay.
Trainable base layers always train at ``BASE_LR_FACTOR`` times the head's
learning rate: the pretrained features should move much less than the freshly
initialised head. In the fine-tuning stage the head trains at
``lr * lr_multiplier`` and the unfrozen base blocks at
``lr * lr_multiplier * BASE_LR_FACTOR``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from tlstudio.core.errors import TrainingError
from tlstudio.core.train.choices import OPTIMIZERS, SCHEDULES
SGD_MOMENTUM = 0.9
BASE_LR_FACTOR = 0.1          # unfrozen base blocks vs the head, in fine-tuning
STEP_GAMMA = 0.1              # "step": lr x0.1 at 1/3 and 2/3 of the epochs
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 2


def param_groups(model: nn.Module, lr: float, weight_decay: float,
                 base_factor: float = BASE_LR_FACTOR) -> list[dict]:
    """Trainable parameters grouped by (head | base) x (decay | no decay); empty groups dropped."""
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "base" if name.startswith("base.") else "head"
        groups.setdefault((part, p.ndim > 1), []).append(p)
    out = []
    for part in ("head", "base"):
        for decay in (True, False):
            params = groups.get((part, decay))
            if params:
                group_lr = lr * (base_factor if part == "base" else 1.0)
                out.append({"params": params, "lr": group_lr, "initial_lr": group_lr,
                            "weight_decay": weight_decay if decay else 0.0, "name": f"{part}{'' if decay else '_no_decay'}"})
    if not out:
        raise TrainingError("Nothing to train: every layer is frozen. Unfreeze the head or some layers.")
    return out


def build_optimizer(name: str, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    name = str(name).lower()
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=SGD_MOMENTUM)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise TrainingError(f"Unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}.")


class Schedule:
    """One interface over the schedules: ``after_batch()`` and ``after_epoch(val_loss)``.

    cosine and onecycle move every batch (smooth over the whole stage);
    step and plateau move once per epoch; constant never moves.
    """

    def __init__(self, name: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
        self.name = str(name).lower()
        self.optimizer = optimizer
        total = max(1, int(epochs) * max(1, int(steps_per_epoch)))
        base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        if self.name == "constant":
            self.scheduler = None
        elif self.name == "step":
            step = max(1, math.ceil(epochs / 3))
            self.scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=STEP_GAMMA)
        elif self.name == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        elif self.name == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=base_lrs, total_steps=total)
        elif self.name == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE)
        else:
            raise TrainingError(f"Unknown learning-rate schedule {name!r}; use one of {', '.join(SCHEDULES)}.")
        self.total_steps = total
        self.steps = 0

    @property
    def lr(self) -> float:
        """The first (head) group's current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    def after_batch(self) -> None:
        self.steps += 1
        # OneCycleLR raises when stepped past total_steps; a resumed stage never gets there.
        if self.name in ("cosine", "onecycle") and self.steps <= self.total_steps - (self.name == "onecycle"):
            self.scheduler.step()

    def after_epoch(self, val_loss: float | None) -> None:
        if self.name == "step":
            self.scheduler.step()
        elif self.name == "plateau" and val_loss is not None and math.isfinite(val_loss):
            self.scheduler.step(val_loss)

    def state_dict(self) -> dict:
        return {"name": self.name, "steps": self.steps,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state.get("steps", 0))
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
            # A resumed run may have been given more epochs: keep the new length.
            if self.name == "cosine":
                self.scheduler.T_max = self.total_steps
            elif self.name == "onecycle":
                self.scheduler.total_steps = self.total_steps

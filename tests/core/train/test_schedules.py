"""Optimizers, parameter groups and learning-rate schedules."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tlstudio.core.errors import TrainingError
from tlstudio.core.train.schedules import BASE_LR_FACTOR, Schedule, build_optimizer, param_groups


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 2)


def lrs(name: str, epochs: int = 6, steps: int = 5, val_losses=None) -> list[float]:
    model = Tiny()
    opt = build_optimizer("sgd", param_groups(model, 0.1, 1e-4), 0.1)
    sched = Schedule(name, opt, epochs, steps)
    out = []
    for e in range(epochs):
        for _ in range(steps):
            out.append(sched.lr)
            opt.step()
            sched.after_batch()
        sched.after_epoch(val_losses[e] if val_losses else 1.0)
    return out


def test_groups_hold_only_trainable_parameters_with_lower_base_lr():
    model = Tiny()
    for p in model.base[1].parameters():
        p.requires_grad_(False)
    groups = param_groups(model, 0.01, 0.05)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"head", "head_no_decay", "base", "base_no_decay"}
    assert by_name["base_no_decay"]["params"] == [model.base[0].bias]      # frozen BatchNorm left out
    assert by_name["base"]["lr"] == pytest.approx(0.01 * BASE_LR_FACTOR)
    assert by_name["head_no_decay"]["weight_decay"] == 0.0 and by_name["head"]["weight_decay"] == 0.05
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(TrainingError):
        param_groups(model, 0.01, 0.0)


def test_optimizers():
    groups = param_groups(Tiny(), 0.01, 0.0)
    assert build_optimizer("sgd", groups, 0.01).param_groups[0]["momentum"] == 0.9
    assert isinstance(build_optimizer("adam", param_groups(Tiny(), 0.01, 0.0), 0.01), torch.optim.Adam)
    assert isinstance(build_optimizer("adamw", param_groups(Tiny(), 0.01, 0.0), 0.01), torch.optim.AdamW)
    with pytest.raises(TrainingError):
        build_optimizer("lbfgs", groups, 0.01)


def test_schedule_shapes():
    assert set(lrs("constant")) == {0.1}
    cos = lrs("cosine")
    assert cos[0] == pytest.approx(0.1) and cos[-1] < 0.005 and all(a >= b for a, b in zip(cos, cos[1:]))
    step = lrs("step")
    assert step[0] == pytest.approx(0.1) and step[10] == pytest.approx(0.01) and step[20] == pytest.approx(0.001)
    one = lrs("onecycle")
    peak = one.index(max(one))
    assert 0 < peak < len(one) - 1 and one[0] < max(one) and one[-1] < one[0]
    plateau = lrs("plateau", val_losses=[1.0] * 6)                        # no improvement
    assert plateau[0] == pytest.approx(0.1) and plateau[-1] == pytest.approx(0.01)
    with pytest.raises(TrainingError):
        lrs("exponential")


def test_schedule_state_round_trip():
    model = Tiny()
    opt = build_optimizer("adamw", param_groups(model, 0.1, 0.0), 0.1)
    sched = Schedule("cosine", opt, 4, 5)
    for _ in range(7):
        opt.step()
        sched.after_batch()
    state = sched.state_dict()
    opt2 = build_optimizer("adamw", param_groups(Tiny(), 0.1, 0.0), 0.1)
    sched2 = Schedule("cosine", opt2, 4, 5)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(state)
    opt.step(); sched.after_batch(); opt2.step(); sched2.after_batch()
    assert sched2.lr == pytest.approx(sched.lr) and sched2.steps == 8

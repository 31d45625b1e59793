"""The epoch loop runs on an explicit RunState: no Trainer is needed to drive it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tlstudio.core import events as ev
from tlstudio.core.train.checkpoints import Snapshotter
from tlstudio.core.features.cache import CachedFeatures
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.train.loop import FeatureBatches, LoopContext, RunState, StageLoop
from tlstudio.core.train.schedules import Schedule, build_optimizer, param_groups
from tlstudio.core.project import TrainingSettings


class RecordingWriter:
    def __init__(self):
        self.best, self.last, self.flushes = [], [], 0

    def offer_best(self, state, stage, epoch, val_acc):
        self.best.append((stage, epoch, val_acc))

    def offer_last(self, state):
        self.last.append(state)

    def maybe_flush(self):
        pass

    def flush(self):
        self.flushes += 1


class TinyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Identity()
        torch.manual_seed(0)
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        return self.head(self.base(x))


def separable(n_train=40, n_val=10):
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(n_train + n_val) % 2
    rows = torch.randn(n_train + n_val, 2, generator=g) * 0.3 + (labels[:, None] * 2.0 - 1.0)
    entry = CachedFeatures("k", Path("."), rows.float(), 1, n_train, n_val)
    return FeatureBatches(entry, labels[:n_train].tolist(), labels[n_train:].tolist(), 8, torch.device("cpu"))


def stage_loop(state: RunState, epochs: int):
    source, model = separable(), TinyModel()
    t = TrainingSettings(epochs=epochs, batch_size=8, lr=0.1, schedule="constant")
    opt = build_optimizer("sgd", param_groups(model, t.lr, 0.0), t.lr)
    n_batches = -(-source.n_train // t.batch_size)
    ctx = LoopContext(model, opt, Schedule("constant", opt, epochs, n_batches), nn.CrossEntropyLoss(),
                      torch.device("cpu"), None, False)
    model.eval()
    es = {"best": None, "bad": 0, "stopped": False}
    return StageLoop(state, t, 1, epochs, n_batches, ctx, source, es, Snapshotter(model, True))


def test_a_stage_reports_and_checkpoints_through_its_run_state():
    events: list = []
    writer = RecordingWriter()
    state = RunState(emit=events.append, progress_interval=0.0,
                     device=torch.device("cpu"), writer=writer, split_hash="abc")
    stage_loop(state, epochs=3).run(1)
    ended = [e for e in events if isinstance(e, ev.EpochEnded)]
    assert [e.epoch for e in ended] == [1, 2, 3]
    assert state.history == [e.to_dict() for e in ended]
    assert state.best["val_acc"] == max(e.val_acc for e in ended) and state.best["val_acc"] > 0.9
    assert writer.best and writer.best[-1][1] == state.best["epoch"]
    assert [s["epoch"] for s in writer.last] == [1, 2, 3] and all(s["split"] == "abc" for s in writer.last)
    assert writer.flushes == 1                                  # at the stage's end
    assert state.base_forward_images == 0                       # stored features: the base never ran
    assert sum(isinstance(e, ev.BatchProgress) for e in events) == 3 * 5


def test_the_run_states_check_stops_the_loop():
    calls = {"n": 0}

    class StopsAfterSix(JobState):
        def check(self):
            calls["n"] += 1
            if calls["n"] > 6:          # the epoch-start check plus five batches, then stop
                self.cancel()
            super().check()

    state = RunState(emit=lambda e: None, job=StopsAfterSix(), device=torch.device("cpu"), writer=RecordingWriter())
    with pytest.raises(Cancelled):
        stage_loop(state, epochs=3).run(1)
    assert state.history == []                                 # cancelled during the first validation

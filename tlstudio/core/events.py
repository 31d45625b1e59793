"""Training events: frozen dataclasses of plain Python scalars.

The Trainer reports progress only by calling a callback with these. They carry
no tensors and no modules, so they cross threads and processes safely.

Front-ends handle them with ``dispatch(sink, event)``: one method per event
type, named ``on_`` + the type in snake case (``on_batch_progress``); a sink
without the method ignores that event. The CLI and the GUI both do this.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Event:
    def to_dict(self) -> dict:
        d = asdict(self)
        d["event"] = type(self).__name__
        return d


@dataclass(frozen=True)
class StageStarted(Event):
    stage: int            # 1 = head only, 2 = fine-tune
    epochs: int
    trainable_params: int
    cached_features: bool


@dataclass(frozen=True)
class FeatureExtractionProgress(Event):
    done: int
    total: int
    images_per_second: float
    eta_seconds: float


@dataclass(frozen=True)
class BaseTuningProgress(Event):
    """A step of the contrastive tuning of the base before the head (few labels)."""
    step: int
    steps: int
    loss: float
    eta_seconds: float


@dataclass(frozen=True)
class BatchProgress(Event):
    stage: int
    epoch: int            # 1-based
    batch: int            # 1-based within the epoch
    batches: int
    loss: float
    images_per_second: float
    eta_seconds: float


@dataclass(frozen=True)
class EpochEnded(Event):
    stage: int
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    stage: int
    epoch: int
    val_acc: float


@dataclass(frozen=True)
class HeadSearchStarted(Event):
    """The automatic head fit begins: ``candidates`` configurations scored by ``method``."""
    candidates: int
    folds: int            # 1: scored on the validation split
    method: str           # "5-fold cross-validation" or "validation split"
    samples: int          # labelled samples the scores come from


@dataclass(frozen=True)
class HeadSearchTrial(Event):
    """A candidate starts (``finished`` False) or has its score (cv_* set, ``done`` counted)."""
    candidate: int        # 0-based, in search.json's trial order
    candidates: int
    label: str            # "hidden 128, lr 2e-3, wd 1e-2"
    finished: bool
    done: int             # candidates finished so far
    cv_loss: float = float("nan")
    cv_acc: float = float("nan")
    epochs: int = 0       # the early-stopped epoch count the refit will use
    eta_seconds: float = float("nan")


@dataclass(frozen=True)
class HeadSearchEpoch(Event):
    """One candidate's held-out loss and accuracy after an epoch, averaged over its folds."""
    candidate: int
    epoch: int           # 1-based
    val_loss: float
    val_acc: float


@dataclass(frozen=True)
class HeadRefitEpoch(Event):
    """The winner's final training on all fitting samples: its mean training loss per epoch."""
    epoch: int
    epochs: int
    train_loss: float


@dataclass(frozen=True)
class HeadSearchFinished(Event):
    """The automatic head fit's report: ``search`` is what search.json holds (plain JSON values)."""
    search: dict
    table: str            # the compact text table the CLI prints


@dataclass(frozen=True)
class FewLabelDecision(Event):
    """What the few-label stage does to the base and why (``mode`` "off" or a tuning; ``probe_accuracy``
    the frozen-feature probe's figure, -1 when none was taken); ``message`` is one sentence for the user."""
    mode: str
    automatic: bool
    probe_accuracy: float
    message: str


@dataclass(frozen=True)
class RunNote(Event):
    """Something the user should read before the run goes on (e.g. a frozen set that did not fit)."""
    message: str


@dataclass(frozen=True)
class RunFinished(Event):
    run_dir: str
    best_val_acc: float
    epochs_run: int
    seconds: float
    cancelled: bool


@dataclass(frozen=True)
class RunFailed(Event):
    message: str


def handler_name(event_type: type) -> str:
    """``BatchProgress`` -> ``on_batch_progress``."""
    return "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", event_type.__name__).lower()


def dispatch(sink: object, event: Event) -> None:
    """Call ``sink``'s handler for ``event``'s type, when it has one."""
    handler = getattr(sink, handler_name(type(event)), None)
    if handler is not None:
        handler(event)

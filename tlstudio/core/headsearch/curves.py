"""The head search's curves: every candidate's held-out loss and accuracy per epoch, the winner,
and the refit's training loss, gathered from search events (torch-free).

``SearchCurves`` is an event sink (``events.dispatch``): the trainer feeds it and saves
``to_dict()`` in the run folder (``runs.run_folder.SEARCH_CURVES``; ``runs.run_folder.read_run_curves``
reads it back); the Train tab feeds it live and draws it, and draws a saved one again when a run is
reopened.
"""
from __future__ import annotations

import math

from tlstudio.core import events as ev


def short_number(value: float) -> str:
    """2e-3, 1e-2, 2.5e-4: a learning rate or decay as people write it."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def config_label(head_label: str, lr: float, weight_decay: float) -> str:
    return f"{head_label}, lr {short_number(lr)}, wd {short_number(weight_decay)}"


def method_short(method: str, folds: int) -> str:
    """"5-fold CV" or "validation split"."""
    return f"{folds}-fold CV" if folds > 1 else "validation split"


def describe_search(search: dict) -> str:
    """What the search did, in words (search.json): "head chosen by 5-fold search over 9 candidates:
    hidden 128, lr 2e-3, 65 epochs — out-of-fold accuracy 94.2 % in 4.8 s"."""
    win = search["winner"]
    scored = f"{search['folds']}-fold search" if search["folds"] > 1 else "search on the validation split"
    score = "out-of-fold accuracy" if search["folds"] > 1 else "validation accuracy"
    return (f"head chosen by {scored} over {len(search['trials'])} candidates: {win['head']}, "
            f"lr {short_number(win['lr'])}, {win['epochs']} epochs — {score} "
            f"{search['heldout_accuracy'] * 100:.1f} % in {search['seconds']:.1f} s")


class SearchCurves:
    """Curves of one search. ``candidates[i]``: {"label", "val_loss": [...], "val_acc": [...], "cv_acc",
    "cv_loss", "epochs", "finished"}; ``winner`` is set once the search reported its result."""

    def __init__(self) -> None:
        self.method, self.folds, self.samples = "", 0, 0
        self.candidates: list[dict] = []
        self.refit_loss: list[float] = []
        self.refit_epochs = 0
        self.winner: int | None = None
        self.summary: dict = {}

    # -- event sink ---------------------------------------------------------------------
    def on_head_search_started(self, event: ev.HeadSearchStarted) -> None:
        self.__init__()
        self.method, self.folds, self.samples = event.method, event.folds, event.samples
        self.candidates = [self._blank("") for _ in range(event.candidates)]

    @staticmethod
    def _blank(label: str) -> dict:
        return {"label": label, "val_loss": [], "val_acc": [], "cv_acc": None, "cv_loss": None, "epochs": 0,
                "finished": False}

    def _candidate(self, index: int) -> dict:
        while len(self.candidates) <= index:
            self.candidates.append(self._blank(""))
        return self.candidates[index]

    def on_head_search_trial(self, event: ev.HeadSearchTrial) -> None:
        c = self._candidate(event.candidate)
        c["label"] = event.label
        if event.finished:
            c.update(finished=True, cv_acc=_plain(event.cv_acc), cv_loss=_plain(event.cv_loss), epochs=event.epochs)

    def on_head_search_epoch(self, event: ev.HeadSearchEpoch) -> None:
        c = self._candidate(event.candidate)
        c["val_loss"].append(_plain(event.val_loss))
        c["val_acc"].append(_plain(event.val_acc))

    def on_head_refit_epoch(self, event: ev.HeadRefitEpoch) -> None:
        self.refit_loss.append(_plain(event.train_loss))
        self.refit_epochs = event.epochs

    def on_head_search_finished(self, event: ev.HeadSearchFinished) -> None:
        search = event.search
        self.winner = int(search["winner_index"]) if "winner_index" in search else None
        if self.winner is None:
            self.winner = next((i for i, t in enumerate(search.get("trials", [])) if t.get("winner")), None)
        self.summary = {"seconds": search.get("seconds"), "heldout_accuracy": search.get("heldout_accuracy")}

    # -- reading ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not any(c["val_loss"] for c in self.candidates)

    def leader(self) -> int | None:
        """The winner once known; during the search the candidate with the best held-out accuracy so far."""
        if self.winner is not None:
            return self.winner
        best, key = None, None
        for i, c in enumerate(self.candidates):
            accs = [a for a in c["val_acc"] if a is not None]
            if accs:
                k = (max(accs), -min(v for v in c["val_loss"] if v is not None))
                if key is None or k > key:
                    best, key = i, k
        return best

    def legend(self, index: int | None = None) -> str:
        """"5-fold CV, hidden 128, lr 2e-3" for the winner (or ``index``)."""
        index = self.leader() if index is None else index
        if index is None or index >= len(self.candidates):
            return method_short(self.method, self.folds)
        label = self.candidates[index]["label"].split(", wd ")[0]
        return f"{method_short(self.method, self.folds)}, {label}"

    def to_dict(self) -> dict:
        return {"method": self.method, "folds": self.folds, "samples": self.samples, "winner": self.winner,
                "candidates": self.candidates, "refit_loss": self.refit_loss, "refit_epochs": self.refit_epochs}

    @classmethod
    def from_dict(cls, data: dict) -> "SearchCurves":
        curves = cls()
        if not isinstance(data, dict):
            return curves
        curves.method, curves.folds = str(data.get("method", "")), int(data.get("folds", 0) or 0)
        curves.samples = int(data.get("samples", 0) or 0)
        curves.winner = data.get("winner") if isinstance(data.get("winner"), int) else None
        curves.candidates = [c for c in data.get("candidates", []) if isinstance(c, dict)
                             and isinstance(c.get("val_loss"), list) and isinstance(c.get("val_acc"), list)]
        curves.refit_loss = [v for v in data.get("refit_loss", []) if v is None or isinstance(v, (int, float))]
        curves.refit_epochs = int(data.get("refit_epochs", 0) or 0)
        return curves


def _plain(value: float) -> float | None:
    """JSON has no NaN: a missing number is None."""
    value = float(value)
    return value if math.isfinite(value) else None


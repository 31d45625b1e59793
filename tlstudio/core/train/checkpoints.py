"""Checkpoints of a run: best.safetensors (+ model.json) and last.pt (resume state).

Snapshots are taken in memory every epoch (a CPU copy: milliseconds) and
written to disk at the end of the first epoch, then at most every
``interval`` seconds, at the end of each stage, and on cancel or failure. A short epoch therefore never pays for two file
writes, yet a cancel still leaves the best weights and an exact resume point.

last.pt holds only tensors, dicts, lists, numbers and strings, so
``torch.load(weights_only=True)`` reads it.
"""
from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tlstudio.core import atomic
from tlstudio.core.errors import RunFolderError
from tlstudio.core.runs.folder import state_dict_tensors, write_model_files
from tlstudio.core.runs.run_folder import BEST as BEST_NAME
from tlstudio.core.runs.run_folder import LAST as LAST_NAME


class Snapshotter:
    """Snapshots of a model whose base may be frozen for the whole stage.

    A frozen base cannot change (its BatchNorm stays in eval mode), so its
    tensors are copied once per stage and only the head is copied each epoch.
    """

    def __init__(self, model: torch.nn.Module, base_frozen: bool):
        self.model = model
        self.base = ({f"base.{k}": v for k, v in state_dict_tensors(model.base).items()} if base_frozen else None)

    def __call__(self) -> dict[str, torch.Tensor]:
        if self.base is None:
            return state_dict_tensors(self.model)
        head = {f"head.{k}": v for k, v in state_dict_tensors(self.model.head).items()}
        return {**self.base, **head}


def copy_tree(obj):
    """Deep-copy tensors (to CPU) inside nested dicts/lists, e.g. an optimizer state dict."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: copy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [copy_tree(v) for v in obj]
    return obj


def rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(np_state[0]), "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [int(py_state[0]), [int(v) for v in py_state[1]]],
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal = state["python"]
    random.setstate((version, tuple(internal), None))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


LAST_KEYS = ("model", "optimizer", "schedule", "stage", "epoch", "history", "best", "early_stopping", "rng", "split")


def load_last(run_dir: str | Path) -> dict:
    path = Path(run_dir) / LAST_NAME
    if not path.is_file():
        raise RunFolderError(f"Nothing to resume: {Path(run_dir).name} has no {LAST_NAME}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFolderError(f"Cannot resume: {LAST_NAME} in {Path(run_dir).name} is unreadable ({first}).") from None
    missing = [k for k in LAST_KEYS if not isinstance(state, dict) or k not in state]
    if missing or not isinstance(state["model"], dict) or state["stage"] not in (1, 2) \
            or not isinstance(state["epoch"], int) or not isinstance(state["history"], list):
        raise RunFolderError(f"Cannot resume: {LAST_NAME} in {Path(run_dir).name} is incomplete or damaged"
                             + (f" (no {', '.join(missing)})." if missing else "."))
    return state


class _StateHolder(torch.nn.Module):
    """Lets write_model_files save a snapshot without touching the live model."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        self._snapshot = state

    def state_dict(self, *args, **kwargs):  # noqa: D401 - mirrors nn.Module
        return self._snapshot


class CheckpointWriter:
    def __init__(self, run_dir: Path, model_info: dict, interval: float,
                 on_saved: Callable[[str, int, int, float], None]):
        self.run_dir = Path(run_dir)
        self.model_info = model_info
        self.interval = float(interval)
        self.on_saved = on_saved
        self._best: tuple[dict, int, int, float] | None = None     # (state, stage, epoch, val_acc) not yet written
        self._last: dict | None = None
        self._last_write = time.perf_counter()
        self._written = False       # the first epoch's checkpoint is written at once

    def offer_best(self, state: dict[str, torch.Tensor], stage: int, epoch: int, val_acc: float) -> None:
        self._best = (state, stage, epoch, val_acc)

    def offer_last(self, state: dict) -> None:
        self._last = state

    def maybe_flush(self) -> None:
        if not self._written or time.perf_counter() - self._last_write >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._best is not None:
            state, stage, epoch, val_acc = self._best
            path = write_model_files(self.run_dir, _StateHolder(state), self.model_info, weights_name=BEST_NAME)
            self._best = None
            self.on_saved(str(path), stage, epoch, val_acc)
        if self._last is not None:
            buf = io.BytesIO()
            torch.save(self._last, buf)
            atomic.write_bytes(self.run_dir / LAST_NAME, buf.getvalue())
            self._last = None
            self._written = True
        self._last_write = time.perf_counter()

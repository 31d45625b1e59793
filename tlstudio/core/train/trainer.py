"""Trainer: runs a Project into a run folder, reporting progress through events.

Stage 1 trains with the Project's frozen set (normally the whole base). When
everything below the head is frozen the base runs once per image through the
FeatureCache and the head trains on stored features. Stage 2 (optional)
starts from the best stage-1 weights, unfreezes the last N blocks and trains
at ``lr * lr_multiplier`` (unfrozen base blocks at a further
``schedules.BASE_LR_FACTOR``), on images. Early stopping ends the current
stage; fine-tuning still follows.

Events go only to ``callback`` (possibly from a worker thread); the JobState
``job`` is checked between batches. Each run keeps its shared state in one
``loop.RunState`` handed to ``StageData`` and each ``StageLoop``. Samples are
read through the Project task's ``Modality`` (``core/data/modality.py``). ``run()`` never raises for training problems: it
emits RunFailed with a user-facing message and returns.

Under torchrun (``distributed.current()`` active) the same run spans the ranks:
rank 0 owns the run folder and fits the head on cached features, extraction is
sharded and stages that run the base use DDP (``docs/scaling.md``).
"""
from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tlstudio.core import events as ev
from tlstudio.core.model import layers
from tlstudio.core.headsearch.batched import searchable
from tlstudio.core.train.checkpoints import CheckpointWriter, Snapshotter, load_last, restore_rng
from tlstudio.core.runs import run_folder as rf
from tlstudio.core.runs import status as run_status
from tlstudio.core.runs.run_folder import RunFolder
from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.index import require_labels, sample_row, split_dataset
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import DatasetError, TLStudioError, TrainingError
from tlstudio.core.model.build import create_transfer_model
from tlstudio.core.model.transfer import base_is_frozen
from tlstudio.core.train.schedules import Schedule, build_optimizer, param_groups
from tlstudio.core.train.stage_data import StageData
from tlstudio.core.threads import intra_op_threads, threads_for_step
from tlstudio.core.train import distributed
from tlstudio.core.train.distributed_stage import ShardedSampleBatches
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.device import resolve_device
from tlstudio.core.train.loop import LoopContext, RunState, StageLoop

from tlstudio.core.train.search_stage import heldout_source, run_search_stage
from tlstudio.core.task_types import SingleLabelTask, task_for
from tlstudio.core.runs.folder import write_model_files
from tlstudio.core.train.few_label_stage import few_label_plan, run_few_label_stage



def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def user_message(exc: BaseException) -> str:
    """A one-sentence message; unwraps errors re-raised from DataLoader workers."""
    text = str(exc).strip()
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _threads_for(source, model, batch_size: int) -> int | None:
    """One thread for a small head on stored features: tiny matmuls only lose to thread sync."""
    if source.runs_base:
        return None
    return threads_for_step(sum(p.numel() for p in model.head.parameters()), batch_size)


OOM_MESSAGE = ("Training stopped: the device ran out of memory; lower the batch size "
               "(or the image size) and try again.")


class Trainer:
    progress_interval = 0.1       # seconds between BatchProgress events (at most ~10 per second)
    checkpoint_interval = 15.0    # seconds between checkpoint writes (plus stage end, cancel, failure)

    def __init__(self, project, run_dir, callback: Callable[[ev.Event], None] | None = None,
                 job: JobState | None = None, resume: bool = False, dataset=None):
        self.project = project
        # A DatasetIndex the caller already scanned (CLI validation, the GUI's Data tab):
        # scanning decodes every image, so it is not done twice.
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir)      # the run folder's layout, claims and resume checks
        self.callback = callback
        self.job = job if job is not None else JobState()
        self.resume = resume
        self.base_forward_images = 0
        self.num_workers: int | None = None     # None: loaders.auto_workers decides
        self.metrics: dict = {}
        self.model = None
        self.dist = distributed.SINGLE

    # -- events ---------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        # Under torchrun rank 0 reports the run; another rank reports only its own failure.
        if self.callback is not None and (self.dist.is_main or isinstance(event, ev.RunFailed)):
            self.callback(event)

    # -- entry point ------------------------------------------------------------
    def run(self) -> dict:
        self._t0 = time.perf_counter()
        self.dist = distributed.current()      # torchrun's process group, or rank 0 of 1
        self.run_state = RunState(emit=self._emit, job=self.job, progress_interval=self.progress_interval,
                                  num_workers=self.num_workers, dist=self.dist)
        self._data = None
        self._search = None
        self._tuning = None
        self._test = {}
        self._kind = SingleLabelTask(0)
        self._thresholds = None
        self._folder_written = False
        self._lock = self.folder.lock()        # one writer per run folder; taken just before writing
        cancelled, failure = False, None
        try:
            try:
                self._run()
            except Cancelled:
                cancelled = True
            except TLStudioError as exc:
                failure = user_message(exc)
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _is_oom(exc):
                    self._finish(cancelled=False, error=f"Training failed: {type(exc).__name__}: {exc}")
                    raise
                failure = OOM_MESSAGE
            finally:
                if self._data is not None:
                    self._data.close()
            return self._finish(cancelled=cancelled, error=failure)
        finally:
            self._lock.release()

    def _finish(self, *, cancelled: bool, error: str | None) -> dict:
        state = self.run_state
        if state.writer is not None:
            try:
                state.writer.flush()
            except OSError:
                pass      # a failing disk must not hide the original problem
        best = state.best
        self.base_forward_images = state.base_forward_images
        self.metrics = {
            "val_accuracy": best["val_acc"], "val_loss": best["val_loss"],
            "classes": list(getattr(self, "_classes", [])),
            "epochs_run": len(state.history), "seconds": round(time.perf_counter() - self._t0, 3),
            "best_epoch": best["epoch"], "best_stage": best["stage"], "cancelled": cancelled,
            "device": str(state.device) if state.device is not None else None,
            "cached_features": state.cached_features, "base_forward_images": state.base_forward_images,
            "train_images": getattr(self, "_sizes", {}).get("train", 0),
            "val_images": getattr(self, "_sizes", {}).get("val", 0),
            "test_images": getattr(self, "_sizes", {}).get("test", 0),
            "error": error,
        }
        search = getattr(self, "_search", None)
        if search is not None:
            self.metrics.update({
                "accuracy_source": heldout_source(search),
                "refit": search["refit"], "fit_samples": search["fit_samples"],
                "search_seconds": search["seconds"], "temperature": search["temperature"],
                "ece_before": search["ece_before"], "ece_after": search["ece_after"],
                "calibration_applied": search["calibration_applied"]})
        self.metrics.update(getattr(self, "_test", {}))
        if getattr(self, "_thresholds", None) is not None:
            self.metrics.update({"task_type": self._kind.name, "thresholds": list(self._thresholds),
                                 **self._label_metrics})
        if getattr(self, "_tuning", None):
            self.metrics["few_shot"] = self._tuning
        if getattr(self, "_few_label", None):
            self.metrics["few_label"] = self._few_label        # what "auto" decided and why
        if getattr(self, "_ranks", None):
            self.metrics["ranks"] = self._ranks
        if "test_accuracy" in self.metrics:
            self.metrics["headline"] = "test_accuracy"
        if self._folder_written:     # a refused resume leaves the earlier run's files alone
            self.folder.write(rf.HISTORY, state.history)
            self.folder.write(rf.METRICS, self.metrics)
            # Last: only now is the folder a complete (or cleanly stopped / failed) run.
            outcome = run_status.FAILED if error else run_status.CANCELLED if cancelled else run_status.COMPLETE
            self.folder.write_state(outcome, error)
        if error is not None:
            self._emit(ev.RunFailed(message=error))
        else:
            self._emit(ev.RunFinished(run_dir=str(self.run_dir), best_val_acc=float(best["val_acc"] or 0.0),
                                      epochs_run=len(state.history), seconds=self.metrics["seconds"],
                                      cancelled=cancelled))
        return self.metrics

    # -- the run ------------------------------------------------------------------
    def _dataset_index(self, modality, path):
        given = self.dataset
        if given is not None and Path(given.root).resolve() == Path(path).resolve():
            index = given
        else:
            index = modality.scan(path, job=self.job, data=self.project.data)
        index = apply_curation(index, self.project.data)      # exclusions, label overrides, pool labels
        require_labels(index, modality.noun)                   # an all-pool dataset: one line, how many needed
        return index

    def _run(self) -> None:
        if self.resume:      # the run's own saved settings (the head its search chose), not today's defaults
            self.project = self.dist.on_main(lambda: self.folder.resume_project(self.project))
        p, t = self.project, self.project.training
        self._validate_settings()
        modality = modality_for(p.task)
        self.run_state.device = self.dist.device_for(resolve_device(t.device))
        seed_everything(t.seed)
        if not p.data.path:
            raise DatasetError("Choose a dataset folder or CSV file before training.")
        index = self._dataset_index(modality, p.data.path)
        split = split_dataset(index, p.data.val_fraction, p.data.test_fraction, seed=p.data.seed)
        if not split.val:
            raise DatasetError(f"Training needs validation {modality.noun}; set a validation fraction above 0.")
        self._classes = list(index.classes)
        self._kind = task_for(index.task_type, len(self._classes))     # single-label or multi-label (task_types)
        self._sizes = {"train": len(split.train), "val": len(split.val), "test": len(split.test)}
        card = modality.model_card(p.model)
        pre = modality.preprocessing(card, p.model)
        seed_everything(t.seed)     # the head's initial weights depend only on the seed
        model = create_transfer_model(card, p.head, len(self._classes), weights=p.model.weights)
        note, replaced = layers.apply_frozen_or_base(model, list(p.frozen), modality.base_word)
        if replaced is not None:          # a frozen set saved for another network: the GUI repairs it on load
            p.frozen = replaced
            self._emit(ev.RunNote(message=note))
        self.model = model
        self._split_json = {part: [sample_row(s) for s in getattr(split, part)]
                            for part in ("train", "val", "test")}
        self.run_state.split_hash = hashlib.sha256(repr(self._split_json).encode()).hexdigest()
        # Rank 0 alone owns the run folder; the others get its resume state (or its error).
        state = self.dist.on_main(lambda: self._start_folder(modality, card, pre, model))
        if not self.dist.is_main:
            self.run_state.writer = distributed.NoWrites(self._model_info(modality, card, pre, model))
        self._tuning = self._few_label_stage(modality, card, pre, model, split, state)
        self._data = StageData(self.run_state, modality, split, pre, model, t, p.data.augment, kind=self._kind)
        stage1_epochs, ft = t.epochs, p.finetune
        start_stage = int(state["stage"]) if state else 1
        if start_stage == 1:
            cached = self._cached_stage1(model, state)
            if self.dist.active and cached:
                self._data.prepare_cache()      # every rank extracts its share; rank 0 fits the head
            if self.dist.is_main or not cached:
                if self._searches(model, state):
                    self._search = run_search_stage(p, self.folder, self._data, self.run_state, self._classes,
                                                    self._emit, model, split, self._kind,
                                                    cross_validate=self._tuning is None)
                else:
                    self._stage(1, stage1_epochs, model, state)
        if ft.enabled and ft.epochs > 0:
            model.base_batchnorm_frozen = not ft.train_batchnorm
            if start_stage != 2 and self.dist.is_main:
                best_path = self.folder.file(rf.BEST)
                self.run_state.writer.flush()
                if best_path.is_file():       # fine-tune from the best head, not the last
                    from safetensors.torch import load_file
                    model.load_state_dict(load_file(str(best_path)))
            self.dist.broadcast_model(model)      # torchrun: rank 0's stage-1 model on every rank
            layers.unfreeze_last_blocks(model, int(ft.unfreeze_last))
            self._stage(2, int(ft.epochs), model, state if start_stage == 2 else None)
        if self.dist.active:
            self._ranks = {"world_size": self.dist.world_size,
                           "base_forward_images": self.dist.all_gather_object(self.run_state.base_forward_images)}
        if self._kind.needs_thresholds and self.dist.is_main:
            self._choose_thresholds(model, modality, pre, split)
        if split.test and self.dist.is_main:
            self._evaluate_test(model, modality, pre, split.test)

    def _start_folder(self, modality, card, pre, model) -> dict | None:
        state = self._claim_run_dir(modality, card, pre, model)
        self._write_run_start(modality, card, pre, model)
        return state

    def _few_label_stage(self, modality, card, pre, model, split, state: dict | None) -> dict | None:
        """Tune the base on the training split when labels are few (``few_label_stage``); what was done."""
        mode, reason, automatic = few_label_plan(self.project, modality, card, split.train, len(self._classes))
        if mode == "off" and not (automatic and modality.few_label_tunings):     # nothing was decided
            return None
        report, self._few_label = run_few_label_stage(
            mode, modality, pre, model, split.train, self.run_state.device, self.project.training.seed,
            self._emit, job=self.job, automatic=automatic, reason=reason,
            decide_only=state is not None)
        if state is not None:       # resuming: the tuned base is part of the resume point
            if self._few_label["mode"] == "off":
                return None
            model.load_state_dict(state["model"])
            return {"method": mode, "resumed": True}
        if "probe" in self._few_label:
            self.run_state.base_forward_images += len(split.train)       # the probe's frozen features
        if report is None:
            return None
        report = report.to_dict()
        self.run_state.base_forward_images += len(split.train)      # the separation after
        info = getattr(self.run_state.writer, "model_info", None)
        if isinstance(info, dict):
            info["base_tuning"] = report       # model.json says the base is not the pretrained one
        return report

    def _cached_stage1(self, model, state: dict | None) -> bool:
        """Whether stage 1 still has to train, on cached features (what ``_stage`` and the search decide)."""
        t = self.project.training
        if not (t.use_cache and base_is_frozen(model)):
            return False
        return state is None or (int(state["epoch"]) < t.epochs and not state["early_stopping"]["stopped"])

    def _validate_settings(self) -> None:
        self.project.validate()      # every number against its range, in one place (CLI and GUI alike)

    def _model_info(self, modality, card, pre, model) -> dict:
        head = self.project.head.to_dict()
        head["num_classes"] = len(self._classes)
        return {"model_name": card.name, "library": card.library, "arch": card.arch, "classes": self._classes,
                "head": head, "feature_dim": int(model.feature_dim),
                "preprocessing": modality.describe_preprocessing(pre), "task": modality.name,
                **self._kind.info_fields()}

    def _claim_run_dir(self, modality, card, pre, model) -> dict | None:
        """Lock the run folder and check it may take this run; the resume state, if resuming."""
        self._lock.acquire()
        if self.folder.claim(self.resume):
            self.folder.check_model_info(self._model_info(modality, card, pre, model))
            return self._load_resume_state()
        return None

    def _write_run_start(self, modality, card, pre, model) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._folder_written = True
        self.folder.write_state(run_status.RUNNING)     # until the last write says otherwise
        snap = self.project.to_dict()
        snap["data"]["path"] = os.path.abspath(snap["data"]["path"])
        saved = self.folder.project_dict() if self.resume else None
        if saved and "search_chose" in saved:      # a resumed run keeps the record of the search's choice
            snap = saved
        self.folder.write(rf.PROJECT, snap)
        self.folder.write(rf.SPLIT, self._split_json)
        info = self._model_info(modality, card, pre, model)
        info["preprocessing"] = modality.save_preprocessing(pre, self.run_dir)   # text: the tokenizer files go along
        self.run_state.writer = CheckpointWriter(self.run_dir, info, self.checkpoint_interval, self._on_saved)

    def _on_saved(self, path: str, stage: int, epoch: int, val_acc: float) -> None:
        self.folder.write(rf.HISTORY, self.run_state.history)
        self._emit(ev.CheckpointSaved(path=path, stage=stage, epoch=epoch, val_acc=val_acc))

    def _load_resume_state(self) -> dict:
        state = load_last(self.run_dir)
        if state.get("split") != self.run_state.split_hash:
            raise TrainingError("The dataset or its split changed since this run started; start a new run "
                                "instead of resuming.")
        self.run_state.history = list(state["history"])
        self.run_state.best = dict(state["best"])
        return state

    # -- stage 1 by search ------------------------------------------------------------
    def _searches(self, model, state: dict | None) -> bool:
        """Stage 1 fits the head by search: frozen base, cached features, a head the search can fit."""
        t = self.project.training
        if t.head_fit != "search" or not t.use_cache or not base_is_frozen(model) or state is not None:
            return False
        return "head" in t.auto or searchable(self.project.head)

    def _logits_on(self, model, modality, pre, samples) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole model's logits on ``samples`` and their targets (the kind's)."""
        from tlstudio.core.data.loaders import make_loader, to_device

        kind = self._kind
        loader = make_loader(kind.wrap_dataset(modality.eval_dataset(pre, samples), samples), 64, num_workers=0,
                             collate=kind.wrap_collate(modality.collate))
        device = self._data.device
        model.to(device).eval()
        logits, labels = [], []
        with torch.inference_mode():
            for x, y in loader:
                self.job.check()
                logits.append(model(to_device(x, device)).float().cpu())
                labels.append(y)
        self.run_state.base_forward_images += len(samples)
        return torch.cat(logits), torch.cat(labels)

    def _evaluate_test(self, model, modality, pre, samples) -> None:
        """The test split, untouched until now: accuracy and calibration of the final model
        (multi-label: micro/macro F1, mAP, subset accuracy at its thresholds)."""
        logits, labels = self._logits_on(model, modality, pre, samples)
        self._test = self._kind.test_figures(logits, labels, self._thresholds)

    def _choose_thresholds(self, model, modality, pre, split) -> None:
        """Per-label thresholds: the head search chose them on out-of-fold predictions; otherwise (epoch
        loop, fine-tuning) they are chosen on the validation split with the best weights, and model.json
        is written again with them."""
        info = self.run_state.writer.model_info
        if self._search is not None and "thresholds" in self._search and not (
                self.project.finetune.enabled and self.project.finetune.epochs > 0):
            self._thresholds = list(self._search["thresholds"])
            self._label_metrics = {"thresholds_chosen_on": self._search["method"], **self._search["label_report"]}
            return
        self.run_state.writer.flush()
        best_path = self.folder.file(rf.BEST)
        if best_path.is_file():
            from safetensors.torch import load_file
            model.load_state_dict(load_file(str(best_path)))
        logits, labels = self._logits_on(model, modality, pre, split.val)
        probs = self._kind.probabilities(logits)
        self._thresholds = self._kind.thresholds(probs, labels)
        self._label_metrics = {"thresholds_chosen_on": "validation split",
                               **self._kind.label_report(probs, labels, self._thresholds, self._classes)}
        info["thresholds"] = self._thresholds
        write_model_files(self.run_dir, model, info, weights_name=rf.BEST)

    # -- one stage ------------------------------------------------------------------
    def _stage(self, stage: int, epochs: int, model, state: dict | None) -> None:
        t, ft = self.project.training, self.project.finetune
        lr = self.project.epoch_lr() if stage == 1 else t.lr * ft.lr_multiplier
        start_epoch = int(state["epoch"]) + 1 if state else 1
        es = dict(state["early_stopping"]) if state else {"best": None, "bad": 0, "stopped": False}
        if start_epoch > epochs or es["stopped"]:
            return
        frozen_base = base_is_frozen(model)
        source = self._data.source(stage, cached=frozen_base and t.use_cache, stage_epochs=epochs)
        model.to(self._data.device)
        optimizer = build_optimizer(t.optimizer, param_groups(model, lr, t.weight_decay), lr)
        n_batches = max(1, -(-source.n_train // t.batch_size))
        schedule = Schedule(t.schedule, optimizer, epochs, n_batches)
        if state:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            restore_rng(state["rng"])
        weights = self._kind.loss_weight(self._data.split.train, bool(t.class_weighted))
        criterion = self._kind.criterion(weights, float(t.label_smoothing)).to(self._data.device)
        if isinstance(source, ShardedSampleBatches):     # torchrun: DDP, each rank its share of each batch
            if self._kind.needs_thresholds:
                raise TrainingError("Multi-label training that runs the base (fine-tuning, or no feature cache) "
                                    "is not supported under torchrun yet; run it in one process.")
            criterion = source.attach(model, criterion, [s.label for s in self._data.split.train], frozen_base)
        ctx = LoopContext(model, optimizer, schedule, criterion, self._data.device, self._data.autocast_dtype,
                          self._data.channels_last and source.runs_base, kind=self._kind)
        if frozen_base:
            model.eval()      # a frozen base behaves as at inference (dropout, drop-path off)
        loop = StageLoop(self.run_state, t, stage, epochs, n_batches, ctx, source, es, Snapshotter(model, frozen_base))
        with intra_op_threads(_threads_for(source, model, t.batch_size)):
            loop.run(start_epoch)

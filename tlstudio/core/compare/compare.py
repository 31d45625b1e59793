"""Compare pretrained models on the project's own data: features once each, a searched head, a leaderboard.

For each candidate (default: the project's own model and every model of its
modality whose weights are on this computer, ``default_candidates``), in turn:

1. build the model (base + an empty head) and run its frozen base over the
   labelled train + validation samples through the feature cache
   (``insight.features.collect_features``): a second comparison, a training
   run or an audit on the same settings reads the rows back instead;
2. fit the searched head on those features (``headsearch.search.search_head``)
   and score it held out: out-of-fold accuracy and macro-F1 under k-fold
   cross-validation (or the validation split on a large set); the test split is
   never read. By default the search is over linear heads only (learning rate x
   weight decay): a linear probe is the standard way to compare how well
   pretrained features transfer (Kornblith et al. 2019), and the hidden-layer
   group costs about three times the linear one (measured on the demo), which
   would make the heads, not the extraction, the cost of a comparison on a
   small set. ``full_search=True`` searches every head shape, as training does.
   The search runs on one intra-op thread: its steps are small matmuls, and on a
   busy 2-core machine a second thread made it 3-10x slower (OpenMP barriers
   waiting for a core that runs something else);
3. measure what the model costs (``measure``): parameters, weights size, batch-1
   latency of the exported model (ONNX in onnxruntime; the PyTorch model where
   that cannot run, the row says which), and the extraction throughput (timed on
   this extraction, or on a few samples when the rows came from the cache). A
   re-run whose rows come from the cache keeps the latency and throughput the
   previous leaderboard measured on this machine with the same runtime
   (``previous``).

The model is built (its weights loaded) once per candidate and serves the
extraction, the latency and the size.

The dataset is scanned once for all candidates. After each candidate the
leaderboard (with its Pareto front, accuracy vs latency) is saved atomically
when ``save_to`` is given, so a cancelled comparison keeps its rows and a
re-run is cheap: every finished extraction is in the cache. A candidate whose
weights cannot be loaded gets a row with its error; the others go on.
Progress: ``task.phase`` names the candidate ("2/3 tf_efficientnet_lite1:
extracting features") and ``set_progress`` counts over all candidates.
"""
from __future__ import annotations

import gc
import time
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

import torch

from tlstudio.core.compare import measure
from tlstudio.core.compare.leaderboard import CandidateResult, Leaderboard, mark_pareto, save_leaderboard
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import DatasetError, TLStudioError
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.threads import intra_op_threads

STEPS = 1000            # progress steps per candidate
EXTRACT_SHARE = 0.85    # of a candidate's progress: its extraction; the head search and measuring share the rest


def default_candidates(project) -> list[tuple[str, str]]:
    """(model, weights) pairs: the project's own model (with its weights, an imported file too), then
    every model of the project's modality whose weights are on this computer."""
    own = (project.model.name, project.model.weights.to_json())
    pairs = [own] + [(name, "auto") for name in modality_for(project.task).offline_models()]
    return unique(pairs)


def unique(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    seen, out = set(), []
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def parse_model_list(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty names dropped)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class _CandidateJob:
    """The JobState a candidate's steps see: the parent's cancel/pause, progress mapped into the
    candidate's share of the whole comparison, the phase prefixed with the candidate."""

    def __init__(self, parent: JobState | None, index: int, count: int, name: str) -> None:
        self.parent, self.index, self.count, self.prefix = parent, index, count, f"{index + 1}/{count} {name}"
        self.phase = ""

    def __setattr__(self, key, value) -> None:
        object.__setattr__(self, key, value)
        if key == "phase" and getattr(self, "parent", None) is not None:
            self.parent.phase = f"{self.prefix}: {value}" if value else self.prefix

    def check(self) -> None:
        if self.parent is not None:
            self.parent.check()

    def set_progress(self, done: int, total: int) -> bool:
        """The extraction's progress, within its share of this candidate."""
        return self.reach(EXTRACT_SHARE * min(max(done, 0), total) / total if total > 0 else EXTRACT_SHARE)

    def reach(self, fraction: float) -> bool:
        """This candidate is ``fraction`` done."""
        if self.parent is None:
            return False
        return self.parent.set_progress(self.index * STEPS + int(STEPS * fraction), self.count * STEPS)


def macro_f1(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Mean F1 over the classes that have samples."""
    scores = []
    for c in range(num_classes):
        support = int((labels == c).sum())
        if support == 0:
            continue
        tp = int(((predicted == c) & (labels == c)).sum())
        fp = int(((predicted == c) & (labels != c)).sum())
        scores.append(2 * tp / (2 * tp + fp + (support - tp)))
    return sum(scores) / len(scores) if scores else 0.0


def _input_size(description: dict) -> str:
    if "input_size" in description:
        return f"{description['input_size']} px"
    if "max_length" in description:
        return f"{description['max_length']} tokens"
    return ""


def measure_candidate(project, name: str, weights: str, index, device: torch.device, job: _CandidateJob,
                      previous: CandidateResult | None = None, full_search: bool = False) -> CandidateResult:
    """One leaderboard row (see the module docstring); a TLStudioError other than a cancel becomes its error."""
    from tlstudio.core.insight.features import collect_features
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.headsearch.search import search_head

    trial = type(project).from_dict(project.to_dict())
    trial.choose_model(name, weights)
    modality = modality_for(trial.task)
    row = CandidateResult(model=name, weights=weights)
    model = None
    try:
        job.phase = "loading the model"
        card = modality.model_card(trial.model)
        pre = modality.preprocessing(card, trial.model)
        row.family, row.input_size = card.family, _input_size(modality.describe_preprocessing(pre))
        model = create_transfer_model(card, HeadSpec(layers=[]), len(index.classes), weights=trial.model.weights)
        features = collect_features(trial, job=job, device=device, index=index, model=model, with_test=False)
        row.feature_dim, row.extract_seconds = int(features.features.shape[1]), round(features.extract_seconds, 3)
        row.from_cache = features.base_forwards == 0
        job.phase = "fitting the head"
        x = torch.from_numpy(features.features)
        y = torch.from_numpy(features.labels)
        train = torch.tensor([s == "train" for s in features.splits])
        if int(train.sum()) == 0 or len(torch.unique(y)) < 2:
            raise DatasetError("Too few labelled samples to compare models (need two classes in the train split).")
        with intra_op_threads(1):       # heads of a few thousand weights: see the module docstring
            result = search_head(x[train], y[train], x[~train], y[~train], len(features.classes),
                                 head=None if full_search else HeadSpec(layers=[]), seed=trial.data.seed,
                                 job=job)
        predicted = result.heldout_logits.argmax(1)
        row.accuracy = float((predicted == result.heldout_labels).float().mean())
        row.macro_f1 = macro_f1(predicted, result.heldout_labels, len(features.classes))
        row.method, row.samples = result.method, int(result.heldout_labels.numel())
        row.head, row.search_seconds = result.best.config.head_label(), round(result.seconds, 3)
        job.reach(0.95)
        job.phase = "measuring latency"
        measuring = time.perf_counter()
        model.head = result.head
        row.params, row.file_bytes = measure.footprint(model)
        again = row.from_cache and previous is not None and previous.ok and previous.head == row.head \
            and previous.latency_runtime == measure.preferred_runtime(device)
        if again:          # the same model on the same machine: its latency was measured last time
            row.latency_ms, row.latency_how = previous.latency_ms, previous.latency_how
            row.latency_runtime, row.latency_runs = previous.latency_runtime, previous.latency_runs
        else:
            latency = measure.batch1_latency(model, measure.one_input(modality, pre, features.samples[0], device),
                                             device, job=job)
            row.latency_ms, row.latency_how = latency.ms, latency.how
            row.latency_runtime, row.latency_runs = latency.runtime, latency.runs
        row.measure_seconds = round(time.perf_counter() - measuring, 3)
        if not row.from_cache and row.extract_seconds > 0:
            row.extract_rate = features.base_forwards / row.extract_seconds
        elif previous is not None and previous.extract_rate and previous.error is None:
            row.extract_rate = previous.extract_rate      # measured when these features were extracted
        else:
            row.extract_rate = measure.extraction_rate(model.base, modality, pre, features.samples, device,
                                                       job=job)
        job.reach(1.0)
    except Cancelled:
        raise
    except TLStudioError as exc:
        row.error = str(exc)
    finally:
        del model
        gc.collect()
    return row


def compare_models(project, candidates: Sequence[tuple[str, str]] | None = None, *, job: JobState | None = None,
                   device=None, previous: Leaderboard | None = None, save_to=None, full_search: bool = False,
                   on_row: Callable[[CandidateResult], None] | None = None) -> Leaderboard:
    """The leaderboard of ``candidates`` ((model, weights) pairs; default ``default_candidates``) on the
    project's labelled train + validation data. See the module docstring."""
    from tlstudio.core.device import resolve_device
    from tlstudio.core.insight.features import scan_curated

    started = time.perf_counter()
    pairs = unique(candidates) if candidates else default_candidates(project)
    modality = modality_for(project.task)
    device = device if isinstance(device, torch.device) else resolve_device(device or project.training.device)
    if job is not None:
        job.phase = "reading the data"
    index = scan_curated(project, job)
    board = Leaderboard(task=project.task, noun=modality.noun, data=str(project.data.path),
                        classes=list(index.classes), device=str(device),
                        created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    for i, (name, weights) in enumerate(pairs):
        sub = _CandidateJob(job, i, len(pairs), name)
        sub.check()
        same_machine = previous is not None and previous.device == board.device
        old = previous.row(name, weights) if same_machine else None
        row = measure_candidate(project, name, weights, index, device, sub, previous=old, full_search=full_search)
        board.candidates.append(row)
        mark_pareto(board.candidates)
        board.seconds = time.perf_counter() - started
        if save_to is not None:
            save_leaderboard(board, save_to)
        if on_row is not None:
            on_row(row)
    board.complete = True
    board.seconds = time.perf_counter() - started
    if save_to is not None:
        save_leaderboard(board, save_to)
    return board


__all__ = ["compare_models", "default_candidates", "measure_candidate", "parse_model_list", "macro_f1"]

"""The verification report every export writes (``export_report.json``): does the file agree with PyTorch?

Each exported file (the bundle's reloaded weights, a TorchScript file, an FP32 / FP16 / INT8 ONNX
file) is run on the run's own held-out samples — its test split when it has one, else its
validation split (at most MAX_REPORT_SAMPLES, evenly spread) — next to the PyTorch model, and the
report records: top-1 agreement, both accuracies and their difference, the largest difference of a
class probability, the file's size (and how much smaller than FP32), latency p50 / p95 at batch 1
and throughput at batch 32 on this machine (with its load average: timings on a busy machine are
noisy). Samples stream through in batches, so memory does not grow with the split. Targets that an
export misses (agreement < 99 %, > 1 point accuracy lost, INT8 < 2x smaller) are written out as
sentences in ``warnings``, with what to try.

A bundle holds ``export_report.json``; a single file ``NAME.onnx`` gets ``NAME.export_report.json``
beside it, so two exports in one folder (FP32 and INT8, say) keep their own reports.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from tlstudio.core import atomic
from tlstudio.core.data.index import Sample
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import TLStudioError
from tlstudio.core.progress import JobState, check
from tlstudio.core.runs.evaluate import split_samples, trained_on_validation
from tlstudio.core.runs.folder import LoadedModel, read_json

REPORT_FORMAT = "tlstudio-export-report"
REPORT_VERSION = 1
REPORT_NAME = "export_report.json"
MAX_REPORT_SAMPLES = 1000
BATCH = 32                      # evaluation batches, and the throughput batch
LATENCY_RUNS, LATENCY_WARMUP, THROUGHPUT_RUNS = 30, 3, 5
AGREEMENT_TARGET = 0.99
ACCURACY_LOSS_LIMIT = 0.01      # one point
INT8_SIZE_TARGET = 2.0

Runner = Callable[[object], torch.Tensor]       # model inputs (a tensor or a dict of tensors) -> logits


@dataclasses.dataclass
class Candidate:
    """One exported file to verify, and how to run it."""
    file: str                   # its name inside the bundle, or the file's name
    kind: str                   # "bundle" (PyTorch weights), "torchscript", "onnx"
    precision: str
    path: Path                  # where it is now (its size is measured there)
    runner: Runner
    method: str = ""
    fp32_bytes: int | None = None
    mixed_precision: dict | None = None     # INT8: what the sensitivity search kept in FP32 (quantize.py)


def is_report(path: Path) -> bool:
    """Whether ``path`` is a report TL Studio wrote (and so may be replaced by a new export)."""
    try:
        data = read_json(path)
    except TLStudioError:
        return False
    return isinstance(data, dict) and data.get("format") == REPORT_FORMAT


def torch_runner(module: torch.nn.Module) -> Runner:
    def run(inputs):
        with torch.inference_mode():
            return module(inputs).float()
    return run


def onnx_runner(path: Path) -> Runner:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(inputs):
        if isinstance(inputs, dict):
            feed = {name: inputs[name].numpy() for name in names}
        else:
            feed = {names[0]: inputs.numpy()}
        return torch.from_numpy(session.run(None, feed)[0]).float()
    return run


def evaluation_source(run_dir: Path) -> tuple[list[Sample], str, int]:
    """(samples, "test split" / "val split", how many the split holds); ([], "", 0) without a split."""
    for split in ("test", "val"):
        try:
            samples = split_samples(run_dir, split)
        except TLStudioError:
            continue
        step = max(1, -(-len(samples) // MAX_REPORT_SAMPLES))
        return samples[::step][:MAX_REPORT_SAMPLES], f"{split} split", len(samples)
    return [], "", 0


def sample_batches(loaded: LoadedModel, samples: Sequence[Sample], batch_size: int = BATCH):
    """(collated inputs, labels, the items read) per batch of readable samples."""
    modality = modality_for(loaded.task)
    reader = modality.input_reader(loaded.preprocessing)
    for start in range(0, len(samples), batch_size):
        items = []
        for sample in samples[start:start + batch_size]:
            try:
                items.append((reader(sample), sample.label))
            except (TLStudioError, OSError, ValueError):
                continue            # an unreadable sample is left out of the comparison
        if items:
            inputs, labels = modality.collate(items)
            yield inputs, labels, items


@dataclasses.dataclass
class _Tally:
    agree: int = 0
    correct: int = 0
    max_prob_diff: float = 0.0


def verify(loaded: LoadedModel, run_dir: str | os.PathLike, candidates: Sequence[Candidate],
           fallback_inputs=None, fallback_source: str = "", job: JobState | None = None) -> dict:
    """The report on every candidate (see the module docstring); not yet written anywhere."""
    run_dir = Path(run_dir)
    samples, source, total = evaluation_source(run_dir)
    reference = torch_runner(loaded.model)
    tallies = [_Tally() for _ in candidates]
    seen = ref_correct = 0
    labelled = bool(samples)
    timing_items: list = []
    batches = sample_batches(loaded, samples) if samples else [(fallback_inputs, None, None)]
    for inputs, labels, items in batches:
        check(job)
        ref_probs = torch.softmax(reference(inputs), 1)
        ref_top = ref_probs.argmax(1)
        seen += len(ref_top)
        if labels is not None:
            ref_correct += int((ref_top == labels).sum())
        if items and len(timing_items) < BATCH:
            timing_items.extend(items[:BATCH - len(timing_items)])
        for candidate, tally in zip(candidates, tallies):
            probs = torch.softmax(candidate.runner(inputs), 1)
            top = probs.argmax(1)
            tally.agree += int((top == ref_top).sum())
            if labels is not None:
                tally.correct += int((top == labels).sum())
            tally.max_prob_diff = max(tally.max_prob_diff, float((probs - ref_probs).abs().max()))
    single, full = _timing_inputs(loaded, timing_items, fallback_inputs)
    entries = []
    for candidate, tally in zip(candidates, tallies):
        check(job)
        entry = _entry(candidate, tally, seen, ref_correct if labelled else None)
        entry.update(_timings(candidate.runner, single, full))
        entry["warnings"] = _warnings(entry)
        entries.append(entry)
    note = None
    if source == "val split" and trained_on_validation(run_dir):
        note = ("The final head was refit on the validation split, so both accuracies are optimistic; "
                "what this report checks is the agreement and the difference between them.")
    return {"format": REPORT_FORMAT, "version": REPORT_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model": str(loaded.info.get("model_name", "")), "task": loaded.task,
            "evaluated_on": source or fallback_source, "samples": seen, "split_samples": total or seen,
            "labelled": labelled, "pytorch_accuracy": ref_correct / seen if labelled and seen else None,
            "note": note, "machine": machine_summary(), "exports": entries}


def _timing_inputs(loaded: LoadedModel, items: list, fallback_inputs):
    """A batch of 1 and a batch of BATCH real inputs (samples repeated when there are fewer)."""
    if not items:
        one = _first(fallback_inputs)
        reps = -(-BATCH // _size(fallback_inputs))
        return one, _repeat(fallback_inputs, reps, BATCH)
    collate = modality_for(loaded.task).collate
    full = (items * -(-BATCH // len(items)))[:BATCH]
    return collate(items[:1])[0], collate(full)[0]


def _size(inputs) -> int:
    return int((inputs["input_ids"] if isinstance(inputs, dict) else inputs).shape[0])


def _first(inputs):
    return {k: v[:1] for k, v in inputs.items()} if isinstance(inputs, dict) else inputs[:1]


def _repeat(inputs, reps: int, n: int):
    if isinstance(inputs, dict):
        return {k: v.repeat(reps, *([1] * (v.dim() - 1)))[:n] for k, v in inputs.items()}
    return inputs.repeat(reps, *([1] * (inputs.dim() - 1)))[:n]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _timed(runner: Runner, inputs, warmup: int, runs: int) -> list[float]:
    """Seconds per call of ``runner(inputs)``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        runner(inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(inputs)
        times.append(time.perf_counter() - start)
    return times


def _timings(runner: Runner, single, full) -> dict:
    times = _timed(runner, single, LATENCY_WARMUP, LATENCY_RUNS)
    batch_times = _timed(runner, full, 1, THROUGHPUT_RUNS)
    return {"latency_ms_p50": 1000 * _percentile(times, 0.5), "latency_ms_p95": 1000 * _percentile(times, 0.95),
            "latency_runs": LATENCY_RUNS, "throughput_per_s": _size(full) / _percentile(batch_times, 0.5),
            "throughput_batch": _size(full)}


def _entry(candidate: Candidate, tally: _Tally, seen: int, ref_correct: int | None) -> dict:
    size = candidate.path.stat().st_size
    accuracy = tally.correct / seen if ref_correct is not None and seen else None
    ref_accuracy = ref_correct / seen if ref_correct is not None and seen else None
    return {"file": candidate.file, "kind": candidate.kind, "precision": candidate.precision,
            "method": candidate.method, "file_bytes": size, "fp32_file_bytes": candidate.fp32_bytes,
            "size_ratio": candidate.fp32_bytes / size if candidate.fp32_bytes and size else None,
            "top1_agreement": tally.agree / seen if seen else None,
            "accuracy": accuracy, "pytorch_accuracy": ref_accuracy,
            "accuracy_delta": accuracy - ref_accuracy if accuracy is not None else None,
            "max_probability_difference": tally.max_prob_diff, "mixed_precision": candidate.mixed_precision}


def _warnings(entry: dict) -> list[str]:
    """The targets this export misses, each with what to try."""
    out = []
    quantized = entry["precision"] == "int8"
    # Measured (benchmarks/bench_export.py): FP16 agreed on every sample at half the size.
    advice = (" Where every prediction must match PyTorch, export FP16 instead (half the size, "
              "probabilities within ~0.01)." if quantized else "")
    if entry["top1_agreement"] is not None and entry["top1_agreement"] < AGREEMENT_TARGET:
        why = f" {_why_int8_disagrees(entry.get('mixed_precision'))}" if quantized else ""
        out.append(f"Top-1 agreement {100 * entry['top1_agreement']:.1f} % is below "
                   f"{100 * AGREEMENT_TARGET:.0f} %.{why}{advice}")
    if entry["accuracy_delta"] is not None and entry["accuracy_delta"] < -ACCURACY_LOSS_LIMIT:
        out.append(f"Accuracy drops by {-100 * entry['accuracy_delta']:.1f} points (limit "
                   f"{100 * ACCURACY_LOSS_LIMIT:.0f}).{advice}")
    if quantized and entry["size_ratio"] is not None and entry["size_ratio"] < INT8_SIZE_TARGET:
        out.append(f"The INT8 file is only {entry['size_ratio']:.1f}x smaller than FP32 "
                   f"(target {INT8_SIZE_TARGET:.0f}x).")
    return out


def _why_int8_disagrees(mixed: dict | None) -> str:
    """One sentence: why the INT8 file still disagrees, from what its mixed-precision search measured."""
    if not mixed:
        return ("The run has no training samples to hold out, so no part of the network was chosen to stay "
                "in FP32.")
    first, chosen = 100 * mixed["all_int8"]["holdout_agreement"], 100 * mixed["chosen"]["holdout_agreement"]
    where = mixed["checked_on"]
    if mixed["target_reached"]:
        return (f"On {where} it agrees on {chosen:.1f} %: more of the samples checked here lie close to a class "
                "boundary, where INT8's rounding flips the prediction.")
    kept = mixed["kept_fp32_groups"]
    return (f"Keeping {'the most sensitive parts (' + ', '.join(kept) + ')' if kept else 'no part'} in FP32 "
            f"gave {chosen:.1f} % on {where} (all INT8: {first:.1f} %); {mixed['stopped']}.")


def machine_summary() -> dict:
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average": load}


def write_report(report: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic.write_json(path, report)
    return path


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:.1f} MB"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """(column headers, one row of cells per verified file): what the CLI prints and the Export tab shows."""
    headers = ["File", "Precision", "Agreement", "Accuracy", "Δ accuracy", "Max Δ prob.", "Size", "vs FP32",
               "p50 ms", "p95 ms", f"per s (batch {BATCH})"]
    rows = []
    for e in report.get("exports", []):
        delta = e.get("accuracy_delta")
        rows.append([e["file"], e["precision"].upper(), _pct(e.get("top1_agreement")), _pct(e.get("accuracy")),
                     "—" if delta is None else f"{100 * delta:+.1f} pt", f"{e['max_probability_difference']:.2g}",
                     _mb(e["file_bytes"]), "—" if not e.get("size_ratio") else f"{e['size_ratio']:.1f}x smaller",
                     f"{e['latency_ms_p50']:.1f}", f"{e['latency_ms_p95']:.1f}", f"{e['throughput_per_s']:.1f}"])
    return headers, rows


def summary_line(report: dict) -> str:
    load = (report.get("machine") or {}).get("load_average")
    where = report.get("evaluated_on") or "sample inputs"
    accuracy = report.get("pytorch_accuracy")
    return (f"Verified against PyTorch on {report['samples']} samples of the {where}"
            + (f", where PyTorch's accuracy is {100 * accuracy:.1f} %" if accuracy is not None else "")
            + (f" (load average {load[0]:.1f}: timings are noisy on a busy machine)" if load else ""))


def format_report(report: dict) -> list[str]:
    """The report as aligned text lines (the CLI prints them)."""
    headers, rows = table_rows(report)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)] if rows else []
    lines = [summary_line(report), "  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    if report.get("note"):
        lines.append(f"Note: {report['note']}")
    for e in report.get("exports", []):
        if e.get("method") and e["precision"] != "fp32":
            lines.append(f"{e['file']}: {e['method']}.")
        lines += [f"warning: {e['file']}: {w}" for w in e.get("warnings", [])]
    return lines


__all__ = ["AGREEMENT_TARGET", "Candidate", "MAX_REPORT_SAMPLES", "REPORT_NAME", "format_report", "is_report",
           "onnx_runner", "sample_batches", "summary_line", "table_rows", "torch_runner", "verify", "write_report"]

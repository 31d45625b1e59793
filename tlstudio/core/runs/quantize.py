"""Smaller ONNX files: FP16 and INT8 versions of a checked FP32 export (onnxruntime's tools).

- **fp32**: the exported graph as it is.
- **fp16**: every float initializer and activation becomes float16 (onnxruntime's
  ``convert_float_to_float16``), with float32 inputs and outputs kept, so a caller feeds the file
  the same arrays as the FP32 one. Half the size; on a CPU without native FP16 arithmetic it is
  not faster (onnxruntime computes some operators through casts) — the report says what it measured.
- **int8**, chosen from the graph's inputs (not from the task):
  - *static* when every input is a float tensor (image models): QDQ format, weights int8 **per
    output channel**, activations uint8 with ranges calibrated by min/max on CALIBRATION_SAMPLES of
    the run's training split. Per channel because the depthwise convolutions of EfficientNet-like
    networks have per-channel weight ranges that differ by orders of magnitude (per-tensor: 98.3 %
    agreement on the demo run, per-channel 100 %). Measured on Fashion-MNIST (benchmarks/
    bench_export.py, 300 test images) and kept out: 256 calibration images instead of 64 (95.3 %
    agreement vs 96.0 %), percentile calibration (96.3 %, but 12 minutes of calibration), the
    depthwise convolutions in FP32 (81.7 %: the QDQ chains around them break), dynamic
    (ConvInteger) quantization (~15x slower).
  - *dynamic* when an input holds integers (token ids: transformer text models): weights of the
    MatMul / Gather (embedding) operators int8 **per output channel**, activations quantized per batch
    at run time. Per channel: on the WordNet demo's test texts 100 % agreement instead of 97.2 %
    per tensor, at the same size. Static calibration does not fit there: attention scores, GELU and
    LayerNorm outputs have input- and length-dependent ranges with large outliers that one fixed
    calibrated scale clips, and onnxruntime recommends dynamic quantization for transformer models.
  - then **mixed precision** (int8_search.py): when the run has a training split, the parts of the
    network that cost the most agreement with FP32 on held-out training samples (never the split the
    report measures on) are kept in FP32, as long as the file stays INT8_SIZE_TARGET x smaller; what
    was kept, and what it measured, goes into the report and the model card. On Fashion-MNIST it kept
    the stem and the first three blocks (0.4 % of the weights): agreement on the 300 test images 96.0 ->
    98.3 %, accuracy delta -0.7 -> +0.3 points, still 3.5x smaller (its 240 s budget ran out on a
    machine with load average 13).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import shutil
import warnings
from pathlib import Path
from typing import Callable, Iterable

from tlstudio.core import atomic
from tlstudio.core.errors import ExportError, TLStudioError
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.runs.int8_search import HOLDOUT_TARGET
INT8_SIZE_TARGET = 2.0         # an INT8 file at least this many times smaller than FP32 (the report's target too)

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_PRECISION = "fp32"
CALIBRATION_SAMPLES = 64        # training samples whose activations set the INT8 ranges
HOLDOUT_POOL = 384              # other training samples held out for the mixed-precision search ...
HOLDOUT_SAMPLES = 128           # ... of which it checks agreement on the least certain (by FP32's top-2 margin)
FLOAT_INPUT = "tensor(float)"


def check_precision(precision: str | None) -> str:
    """``precision`` as one of PRECISIONS; ExportError (one line) for anything else."""
    value = DEFAULT_PRECISION if precision is None else str(precision).strip().lower()
    if value not in PRECISIONS:
        raise ExportError(f"Unknown precision {precision!r}; use one of {', '.join(PRECISIONS)} "
                          "(fp16 and int8 are for ONNX exports).")
    return value


def require_onnx(precision: str, onnx: bool) -> str:
    """``precision``, when the export can have it: FP16 and INT8 exist for ONNX files only."""
    if precision != DEFAULT_PRECISION and not onnx:
        raise ExportError(f"Precision {precision} is for ONNX exports; use --format onnx, or a bundle with "
                          "--with-onnx (TorchScript files and bundle weights stay FP32).")
    return precision


def precision_file_name(stem: str, precision: str, suffix: str = ".onnx") -> str:
    """``model.onnx`` for FP32, ``model.int8.onnx`` / ``model.fp16.onnx`` otherwise."""
    return f"{stem}{suffix}" if precision == DEFAULT_PRECISION else f"{stem}.{precision}{suffix}"


def _quiet():
    """onnxruntime's quantizer logs and prints progress; keep the CLI's output clean."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    stack.callback(root.setLevel, level)
    return stack


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def takes_only_float_inputs(path: Path) -> bool:
    return all(i.type == FLOAT_INPUT for i in _session(path).get_inputs())


class _Feeds:
    """onnxruntime's CalibrationDataReader over model inputs (a tensor, or a dict of tensors by input name)."""

    def __init__(self, inputs: Iterable, names: list[str]):
        self._inputs, self._names = iter(inputs), names

    def get_next(self):
        batch = next(self._inputs, None)
        return None if batch is None else _feed(batch, self._names)


def _feed(batch, names: list[str]) -> dict:
    if isinstance(batch, dict):
        return {name: batch[name].numpy() for name in names}
    return {names[0]: batch.numpy()}


@dataclasses.dataclass
class CalibrationSet:
    """Real model inputs for INT8: ``batches`` set the activation ranges; ``holdout`` (other samples of
    the training split, never the split the report measures on) is what the mixed-precision search
    checks agreement on ([] when the run has no training split: then nothing is searched)."""
    batches: list
    what: str                       # e.g. "64 training images"
    holdout: list = dataclasses.field(default_factory=list)
    holdout_what: str = ""


def calibration_samples(run_dir) -> tuple[str, list, list]:
    """(the split's name, samples to calibrate on, samples held out for the search): up to
    CALIBRATION_SAMPLES + HOLDOUT_POOL evenly spread samples of the run's training split, of which
    CALIBRATION_SAMPLES (at most a third) calibrate and the others are held out. Without training
    rows, up to CALIBRATION_SAMPLES of its validation or test split calibrate and nothing is held out
    (the report measures on those splits: the search never tunes on them). ("", [], []) when the run
    has no split (a bundle)."""
    from tlstudio.core.runs.evaluate import split_samples

    for split, name in (("train", "training"), ("val", "validation"), ("test", "test")):
        try:
            samples = split_samples(run_dir, split)
        except TLStudioError:
            continue
        if split != "train":
            return name, samples[::max(1, len(samples) // CALIBRATION_SAMPLES)][:CALIBRATION_SAMPLES], []
        wanted = CALIBRATION_SAMPLES + HOLDOUT_POOL
        chosen = samples[::max(1, len(samples) // wanted)][:wanted]
        count = min(CALIBRATION_SAMPLES, max(1, len(chosen) // 3))
        picked = {round(i * len(chosen) / count) for i in range(count)}
        return (name, [s for i, s in enumerate(chosen) if i in picked],
                [s for i, s in enumerate(chosen) if i not in picked])
    return "", [], []


def calibration_inputs(loaded, run_dir, fallback_inputs) -> CalibrationSet:
    """The model inputs of ``calibration_samples``; ``fallback_inputs`` (the parity batch) calibrate
    a run without any split."""
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.runs.export_report import sample_batches

    noun = modality_for(loaded.task).noun
    name, calibrate, held = calibration_samples(run_dir)
    batches = [inputs for inputs, _, _ in sample_batches(loaded, calibrate, batch_size=8)]
    holdout = [inputs for inputs, _, _ in sample_batches(loaded, held, batch_size=16)]
    if not batches:
        return CalibrationSet([fallback_inputs], f"{_rows(fallback_inputs)} sample {noun}")
    rows = sum(_rows(b) for b in holdout)
    return CalibrationSet(batches, f"{sum(_rows(b) for b in batches)} {name} {noun}", holdout,
                          f"{rows} other {name} {noun}" if rows else "")


def _rows_in(batches: list) -> int:
    return sum(_rows(b) for b in batches)


def _rows(inputs) -> int:
    return int((next(iter(inputs.values())) if isinstance(inputs, dict) else inputs).shape[0])


@dataclasses.dataclass
class Conversion:
    """How a file was converted: one phrase for the report, and (INT8) what the search kept in FP32."""
    method: str
    mixed_precision: dict | None = None


def convert_precision(fp32_path: Path, out_path: Path, precision: str,
                      calibration: Callable[[], CalibrationSet] | None = None, *,
                      job: JobState | None = None) -> Conversion:
    """Write ``out_path`` as ``precision`` from the FP32 file.

    ``calibration()`` gives real model inputs (``calibration_inputs`` makes them from a run); INT8
    calls it: static INT8 calibrates on them, and both kinds check their held-out part in the
    mixed-precision search (int8_search.py).
    """
    precision = check_precision(precision)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if precision == "fp32":
        if fp32_path != out_path:
            shutil.copyfile(fp32_path, out_path)
        return Conversion("FP32 (as exported)")
    try:
        if precision == "fp16":
            return Conversion(_to_fp16(fp32_path, out_path))
        return _to_int8(fp32_path, out_path, calibration, job)
    except (ExportError, Cancelled):
        raise
    except Exception as exc:  # onnx / onnxruntime raise many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExportError(f"The {precision.upper()} conversion of the ONNX file failed: {first}") from None


def _to_fp16(fp32_path: Path, out_path: Path) -> str:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _quiet():
        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    with atomic.atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))
    return "FP16 weights and activations, float32 inputs and outputs"


def _static_quantizer(prepared: Path, calibration: CalibrationSet, work: Path):
    """(quantize(nodes kept in FP32, out), the op types it quantizes): QDQ, calibrated once (the ranges
    are cached in ``work``, so every trial of the search reuses them)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QDQRegistry

    cache = work / "calibration.json"
    names = [i.name for i in _session(prepared).get_inputs()]

    def quantize(excluded: list[str], out: Path) -> None:
        reader = None if cache.is_file() else _Feeds(calibration.batches, names)
        with _quiet():
            quantize_static(str(prepared), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded,
                            calibration_cache_path=str(cache))
    return quantize, set(QDQRegistry)


def _dynamic_quantizer(prepared: Path):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    def quantize(excluded: list[str], out: Path) -> None:
        with _quiet():
            quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=excluded)
    return quantize, set(IntegerOpsRegistry)


def _measurer(prepared: Path, holdout: list, keep: int = HOLDOUT_SAMPLES):
    """(measure(file) -> Outcome against the FP32 graph, how many samples it checks): on the ``keep``
    held-out inputs whose FP32 prediction is least certain (INT8's rounding flips those first; the
    training samples are surer than the samples the report checks)."""
    import numpy as np
    import torch

    from tlstudio.core.runs.int8_search import compare, least_certain

    def outputs(path: Path, batches: list):
        session = _session(path)
        names = [i.name for i in session.get_inputs()]
        return [session.run(None, _feed(batch, names))[0] for batch in batches]

    per_batch = outputs(prepared, holdout)
    chosen = set(least_certain(np.concatenate(per_batch), keep).tolist())
    batches, start = [], 0
    for batch, out in zip(holdout, per_batch):
        rows = [i for i in range(len(out)) if start + i in chosen]
        start += len(out)
        if rows:
            index = torch.tensor(rows)
            batches.append({k: v[index] for k, v in batch.items()} if isinstance(batch, dict) else batch[index])
    reference = np.concatenate(outputs(prepared, batches))
    return (lambda path: compare(reference, np.concatenate(outputs(path, batches)), path.stat().st_size),
            len(reference))


def _to_int8(fp32_path: Path, out_path: Path, calibration, job: JobState | None = None) -> Conversion:
    import onnx
    from onnxruntime.quantization import quant_pre_process

    from tlstudio.core.runs.int8_search import node_groups, node_scopes, search

    work = atomic.new_temp_dir(out_path.parent, out_path.name)
    try:
        prepared = work / "prepared.onnx"
        with _quiet():     # shape inference and constant folding, as onnxruntime advises before quantizing
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        result = work / "int8.onnx"
        static = takes_only_float_inputs(prepared)
        inputs = calibration() if calibration is not None else None
        if static:
            if inputs is None:
                raise ExportError("Static INT8 quantization needs calibration inputs and none were given.")
            quantize, op_types = _static_quantizer(prepared, inputs, work)
            method = (f"static INT8 (QDQ; int8 weights per channel; uint8 activations, min/max ranges "
                      f"calibrated on {inputs.what})")
        else:
            quantize, op_types = _dynamic_quantizer(prepared)
            method = ("dynamic INT8 (int8 MatMul and embedding weights per channel; activations quantized per "
                      "batch at run time, as suits transformer text models)")
        mixed = None
        if inputs is not None and inputs.holdout:
            scopes = node_scopes(onnx.load(str(fp32_path), load_external_data=False))
            groups = node_groups(onnx.load(str(prepared)), op_types, scopes=scopes)
            measure, checked = _measurer(prepared, inputs.holdout)
            found = search(groups, quantize, measure, fp32_path.stat().st_size, work, result,
                           target=HOLDOUT_TARGET, size_target=INT8_SIZE_TARGET, job=job)
            where = inputs.holdout_what if checked == _rows_in(inputs.holdout) else \
                f"the {checked} least certain of {inputs.holdout_what}"
            mixed = {"kept_fp32_groups": found.kept_groups, "kept_fp32_nodes": found.kept_nodes,
                     "groups_measured": len(groups), "checked_on": where,
                     "holdout_target": HOLDOUT_TARGET, "target_reached": found.reached, "stopped": found.stopped,
                     "all_int8": found.first.as_dict(), "chosen": found.final.as_dict(),
                     "trials": found.trials, "search_seconds": round(found.seconds, 1)}
            method += "; " + describe_mixed(mixed)
        else:
            quantize([], result)
        with atomic.atomic_path(out_path) as tmp:
            shutil.copyfile(result, tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Conversion(method, mixed)


def describe_mixed(mixed: dict) -> str:
    """One phrase: what the mixed-precision search kept in FP32 and what it measured."""
    first, chosen = mixed["all_int8"]["holdout_agreement"], mixed["chosen"]["holdout_agreement"]
    kept = mixed["kept_fp32_groups"]
    where = f"on {mixed['checked_on']}"
    if not kept:
        return (f"every node INT8 (agreement with FP32 {100 * first:.1f} % {where}; "
                f"{mixed['stopped']})")
    return (f"kept in FP32: {', '.join(kept)} ({len(mixed['kept_fp32_nodes'])} nodes), chosen by sensitivity "
            f"{where}: agreement with FP32 {100 * first:.1f} % all INT8 -> {100 * chosen:.1f} % "
            f"({mixed['trials']} trials, {mixed['search_seconds']:.0f} s; {mixed['stopped']})")


__all__ = ["CALIBRATION_SAMPLES", "CalibrationSet", "Conversion", "DEFAULT_PRECISION", "HOLDOUT_POOL", "HOLDOUT_SAMPLES",
           "INT8_SIZE_TARGET", "PRECISIONS", "calibration_inputs", "calibration_samples", "check_precision",
           "convert_precision", "describe_mixed", "precision_file_name", "require_onnx", "takes_only_float_inputs"]

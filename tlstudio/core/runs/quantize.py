"""Smaller ONNX files: FP16 and INT8 versions of a checked FP32 export (onnxruntime's tools).

- **fp32**: the exported graph as it is.
- **fp16**: every float initializer and activation becomes float16 (onnxruntime's
  ``convert_float_to_float16``), with float32 inputs and outputs kept, so a caller feeds the file
  the same arrays as the FP32 one. Half the size; on a CPU without native FP16 arithmetic it is
  not faster (onnxruntime computes some operators through casts) — the report says what it measured.
- **int8**, chosen from the graph's inputs (not from the task):
  - *static* when every input is a float tensor (image models): QDQ format, weights int8 **per
    output channel**, activations uint8 with ranges calibrated by min/max on samples of the run's
    training split. Per channel because the depthwise convolutions of EfficientNet-like networks
    have per-channel weight ranges that differ by orders of magnitude: on the demo run's 60
    validation images per-tensor scales agreed with PyTorch on 98.3 %, per-channel on 100 %
    (min/max, percentile and entropy calibration alike); on 300 Fashion-MNIST test images
    per-channel agrees on 96 % (benchmarks/bench_export.py; keeping the first convolution and
    the head in FP32 gave 94.7 %, no better). Dynamic quantization of convolutions
    (ConvInteger) agreed on 96.7 % of the demo images and was ~15x slower on this CPU.
  - *dynamic* when an input holds integers (token ids: transformer text models): weights of the
    MatMul / Gather (embedding) operators int8, activations quantized per batch at run time.
    Static calibration does not fit there: attention scores, GELU and LayerNorm outputs have
    input- and length-dependent ranges with large outliers that one fixed calibrated scale clips,
    and onnxruntime recommends dynamic quantization for transformer models.
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
import warnings
from pathlib import Path
from typing import Callable, Iterable

from tlstudio.core import atomic
from tlstudio.core.errors import ExportError, TLStudioError

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_PRECISION = "fp32"
CALIBRATION_SAMPLES = 64        # training samples whose activations set the INT8 ranges
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
        if batch is None:
            return None
        if isinstance(batch, dict):
            return {name: batch[name].numpy() for name in self._names}
        return {self._names[0]: batch.numpy()}


def calibration_inputs(loaded, run_dir, fallback_inputs) -> tuple[list, str]:
    """(batches of real model inputs, what they are): up to CALIBRATION_SAMPLES of the run's training
    split, evenly spread; its other splits when it has no training rows; ``fallback_inputs`` (the
    parity batch) when it has no split at all (a bundle)."""
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.runs.evaluate import split_samples
    from tlstudio.core.runs.export_report import sample_batches

    noun = modality_for(loaded.task).noun
    for split, name in (("train", "training"), ("val", "validation"), ("test", "test")):
        try:
            samples = split_samples(run_dir, split)
        except TLStudioError:
            continue
        step = max(1, len(samples) // CALIBRATION_SAMPLES)
        chosen = samples[::step][:CALIBRATION_SAMPLES]
        batches = [inputs for inputs, _, _ in sample_batches(loaded, chosen, batch_size=8)]
        if batches:
            return batches, f"{sum(_rows(b) for b in batches)} {name} {noun}"
    return [fallback_inputs], f"{_rows(fallback_inputs)} sample {noun}"


def _rows(inputs) -> int:
    return int((inputs["input_ids"] if isinstance(inputs, dict) else inputs).shape[0])


def convert_precision(fp32_path: Path, out_path: Path, precision: str,
                      calibration: Callable[[], tuple[Iterable[dict], str]] | None = None) -> str:
    """Write ``out_path`` as ``precision`` from the FP32 file; returns how (one phrase for the report).

    ``calibration()`` gives (batches of real model inputs, what they are, e.g. "64 training images");
    it is called only for static INT8 (``calibration_inputs`` makes them from a run).
    """
    precision = check_precision(precision)
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if precision == "fp32":
        if fp32_path != out_path:
            shutil.copyfile(fp32_path, out_path)
        return "FP32 (as exported)"
    try:
        if precision == "fp16":
            return _to_fp16(fp32_path, out_path)
        return _to_int8(fp32_path, out_path, calibration)
    except ExportError:
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


def _to_int8(fp32_path: Path, out_path: Path, calibration) -> str:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_dynamic, quantize_static)

    work = atomic.new_temp_dir(out_path.parent, out_path.name)
    try:
        prepared = work / "prepared.onnx"
        with _quiet():     # shape inference and constant folding, as onnxruntime advises before quantizing
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        result = work / "int8.onnx"
        if takes_only_float_inputs(prepared):
            if calibration is None:
                raise ExportError("Static INT8 quantization needs calibration inputs and none were given.")
            inputs, what = calibration()
            names = [i.name for i in _session(prepared).get_inputs()]
            with _quiet():
                quantize_static(str(prepared), str(result), _Feeds(inputs, names), quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax)
            method = (f"static INT8 (QDQ; int8 weights per channel; uint8 activations, min/max ranges "
                      f"calibrated on {what})")
        else:
            with _quiet():
                quantize_dynamic(str(prepared), str(result), weight_type=QuantType.QInt8)
            method = ("dynamic INT8 (int8 MatMul and embedding weights; activations quantized per batch "
                      "at run time, as suits transformer text models)")
        with atomic.atomic_path(out_path) as tmp:
            shutil.copyfile(result, tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return method


__all__ = ["CALIBRATION_SAMPLES", "calibration_inputs", "DEFAULT_PRECISION", "PRECISIONS", "check_precision", "convert_precision",
           "precision_file_name", "require_onnx", "takes_only_float_inputs"]

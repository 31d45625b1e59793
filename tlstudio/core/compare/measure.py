"""What a candidate costs to run: parameters, weights size, batch-1 latency, extraction throughput.

Latency is the exported model's: base + the searched head exported to ONNX
(the TorchScript-based exporter, batch 1, in memory: ~0.6 s for an
EfficientNet-Lite, where the torch.export-based one takes 5-13 s) and run by
onnxruntime on the CPU, as a user's deployment would run it. Where the export
extra (``onnx``, ``onnxruntime``) is missing, the export fails, or the
comparison runs on a GPU (onnxruntime here runs on the CPU), the PyTorch model
itself is timed instead, and ``runtime`` / ``how`` say which. Either way one
input at a time, after ``LATENCY_WARMUP`` untimed pass, the median (p50) of
up to ``LATENCY_RUNS`` passes (at least ``LATENCY_MIN_RUNS``; no more once
``LATENCY_BUDGET_S`` is spent), with ``check(job)`` between passes (and
before and after the export) so a cancel is heard. The export runs on one
intra-op thread: it is graph work, and on a busy 2-core machine a second
thread made it 2-4x slower; the timed passes use the comparison's threads.

The weights size is the fp32 tensors' bytes (what a bundle's
``model.safetensors`` holds, less its small header), counted from the tensors
without serialising the model.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import statistics
import time
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from tlstudio.core.data.loaders import to_device
from tlstudio.core.progress import Cancelled, JobState, check
from tlstudio.core.threads import intra_op_threads

LATENCY_WARMUP = 1
LATENCY_RUNS = 21          # at most; fewer (never under LATENCY_MIN_RUNS) once LATENCY_BUDGET_S is spent
LATENCY_MIN_RUNS = 5
LATENCY_BUDGET_S = 0.5
RATE_SAMPLES = 32          # samples timed for the extraction rate when the features came from the cache
RATE_BATCH = 16
ONNX, PYTORCH = "onnxruntime", "pytorch"


def footprint(model: nn.Module) -> tuple[int, int]:
    """(parameters, bytes of the fp32 weights: every tensor of the state dict once)."""
    params = sum(p.numel() for p in model.parameters())
    seen, size = set(), 0
    for tensor in model.state_dict().values():
        if tensor.data_ptr() in seen:           # a tied weight is stored once
            continue
        seen.add(tensor.data_ptr())
        size += tensor.numel() * (4 if tensor.is_floating_point() else tensor.element_size())
    return int(params), int(size)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_input(modality, pre, sample, device: torch.device):
    """One sample as a batch of one, on ``device``, as the model takes it."""
    inputs, _labels = modality.collate([modality.eval_dataset(pre, [sample])[0]])
    return to_device(inputs, device)


def preferred_runtime(device: torch.device) -> str:
    """Which runtime ``batch1_latency`` tries first on ``device``: onnxruntime on a CPU with the export
    extra installed, else PyTorch."""
    if device.type != "cpu":
        return PYTORCH
    installed = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))
    return ONNX if installed else PYTORCH


def _timed_passes(run, job: JobState | None) -> list[float]:
    """Seconds of each timed call of ``run()`` (see the module docstring for how many)."""
    times: list[float] = []
    for i in range(LATENCY_WARMUP + LATENCY_RUNS):
        check(job)
        t0 = time.perf_counter()
        run()
        if i >= LATENCY_WARMUP:
            times.append(time.perf_counter() - t0)
            if len(times) >= LATENCY_MIN_RUNS and sum(times) >= LATENCY_BUDGET_S:
                break
    return times


def onnx_model(model: nn.Module, inputs) -> bytes:
    """``model`` (on the CPU, eval mode) as ONNX bytes for inputs shaped like ``inputs`` (a batch of one)."""
    if isinstance(inputs, dict):
        from tlstudio.core.runs.export import TextLogits

        module, args, names = TextLogits(model), (inputs["input_ids"], inputs["attention_mask"]), \
            ["input_ids", "attention_mask"]
    else:
        module, args, names = model, (inputs,), ["input"]
    buffer = io.BytesIO()
    with intra_op_threads(1), warnings.catch_warnings(), open(os.devnull, "w") as devnull, \
            contextlib.redirect_stdout(devnull):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, dynamo=False, input_names=names, output_names=["logits"])
    return buffer.getvalue()


def _onnx_latency(model: nn.Module, inputs, job: JobState | None) -> tuple[list[float], str]:
    import onnxruntime as ort

    check(job)
    data = onnx_model(model.eval(), inputs)
    check(job)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {n: (inputs[n] if isinstance(inputs, dict) else inputs).cpu().numpy() for n in names}
    times = _timed_passes(lambda: session.run(None, feed), job)
    return times, f"ONNX model in onnxruntime {ort.__version__}, batch 1, cpu, {options.intra_op_num_threads} threads"


def _torch_latency(model: nn.Module, inputs, device: torch.device, job: JobState | None, why: str = "") -> tuple[list[float], str]:
    model.eval().to(device)

    def run() -> None:
        with torch.inference_mode():
            model(inputs)
        _sync(device)

    times = _timed_passes(run, job)
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    return times, f"PyTorch model, batch 1, {device.type}{threads}" + (f" ({why})" if why else "")


@dataclass
class Latency:
    ms: float           # the median of ``runs`` timed passes
    runs: int
    how: str            # the runtime, batch, device and threads (and why PyTorch, when it is the fallback)
    runtime: str        # ONNX or PYTORCH


def batch1_latency(model: nn.Module, inputs, device: torch.device, *, job: JobState | None = None) -> Latency:
    """One forward pass of ``inputs`` (a batch of one) timed in the exported model, or in the PyTorch
    model where that cannot run; see the module docstring."""
    runtime = preferred_runtime(device)
    if runtime == ONNX:
        try:
            times, how = _onnx_latency(model, inputs, job)
            return Latency(1000.0 * statistics.median(times), len(times), how, ONNX)
        except Cancelled:
            raise
        except Exception as exc:  # the exporter and onnxruntime raise many types; PyTorch is then timed
            text = str(exc).strip().splitlines()
            why = f"the ONNX export failed: {text[0] if text else type(exc).__name__}"
    elif device.type != "cpu":
        why = f"on {device.type}; the ONNX runtime here runs on the CPU"
    else:
        why = "onnx/onnxruntime not installed: pip install tlstudio[export]"
    times, how = _torch_latency(model, inputs, device, job, why)
    return Latency(1000.0 * statistics.median(times), len(times), how, PYTORCH)


def extraction_rate(base: nn.Module, modality, pre, samples, device: torch.device, *,
                    job: JobState | None = None) -> float:
    """Samples per second through ``base`` (reading and preprocessing included) on up to ``RATE_SAMPLES``
    samples: for a candidate whose features came from the cache."""
    samples = list(samples)[:RATE_SAMPLES]
    dataset = modality.eval_dataset(pre, samples)
    base.eval().to(device)
    with torch.inference_mode():
        first, _ = modality.collate([dataset[0]])
        base(to_device(first, device))              # warm-up (allocations, kernels)
        _sync(device)
        t0 = time.perf_counter()
        for start in range(0, len(samples), RATE_BATCH):
            check(job)
            inputs, _ = modality.collate([dataset[i] for i in range(start, min(start + RATE_BATCH, len(samples)))])
            base(to_device(inputs, device))
        _sync(device)
    return len(samples) / max(time.perf_counter() - t0, 1e-9)

"""What a candidate costs to run: parameters, file size, batch-1 latency, extraction throughput.

Latency is measured on the PyTorch model itself (base + the searched head, eval
mode, ``torch.inference_mode``), one input at a time, after ``LATENCY_WARMUP``
untimed pass; the fastest of up to ``LATENCY_REPEATS`` passes is reported (at
least ``LATENCY_MIN_REPEATS``; no more once ``LATENCY_BUDGET_S`` is spent: a
big model on a busy CPU takes seconds a pass). Other
work on the machine only ever adds time, so the minimum is the model's own
cost and the figure that is stable from run to run (as ``timeit`` advises).
An ONNX export would take longer than the extraction of a small data set for
each candidate, so the comparison does not export; exported-model latency per
format is the Export tab's verification report. The file size is the fp32
state dict as ``torch.save`` writes it, which is what a bundle ships.
"""
from __future__ import annotations

import io
import time

import torch
from torch import nn

from tlstudio.core.data.loaders import to_device
from tlstudio.core.progress import JobState, check

LATENCY_WARMUP = 1
LATENCY_REPEATS = 9        # at most; fewer (never under LATENCY_MIN_REPEATS) once LATENCY_BUDGET_S is spent
LATENCY_MIN_REPEATS = 3
LATENCY_BUDGET_S = 1.0
RATE_SAMPLES = 32          # samples timed for the extraction rate when the features came from the cache
RATE_BATCH = 16


def footprint(model: nn.Module) -> tuple[int, int]:
    """(parameters, bytes of the state dict as torch.save writes it)."""
    params = sum(p.numel() for p in model.parameters())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return int(params), int(buffer.tell())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_input(modality, pre, sample, device: torch.device):
    """One sample as a batch of one, on ``device``, as the model takes it."""
    inputs, _labels = modality.collate([modality.eval_dataset(pre, [sample])[0]])
    return to_device(inputs, device)


def batch1_latency(model: nn.Module, inputs, device: torch.device, *, job: JobState | None = None
                   ) -> tuple[float, str]:
    """(fastest milliseconds of one forward pass of ``inputs``, how it was measured)."""
    model.eval().to(device)
    times = []
    with torch.inference_mode():
        for i in range(LATENCY_WARMUP + LATENCY_REPEATS):
            check(job)
            _sync(device)
            t0 = time.perf_counter()
            model(inputs)
            _sync(device)
            if i >= LATENCY_WARMUP:
                times.append(time.perf_counter() - t0)
                if len(times) >= LATENCY_MIN_REPEATS and sum(times) >= LATENCY_BUDGET_S:
                    break
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    how = f"PyTorch model, batch 1, {device.type}{threads}, best of {len(times)}"
    return 1000.0 * min(times), how


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

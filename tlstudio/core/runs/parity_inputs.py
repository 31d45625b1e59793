"""What an export is checked on: a small batch of the run's own samples (validation first), of the sample
files the caller named, or fixed inputs when the run holds none (random pixels; a few fixed texts)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from tlstudio.core.data.transforms import eval_transform
from tlstudio.core.errors import ExportError, TLStudioError
from tlstudio.core.runs.folder import LoadedModel
from tlstudio.core.runs.predict import read_image_input
from tlstudio.core.runs.run_folder import SPLIT, RunFolder

MAX_PARITY_SAMPLES = 8


def _split_paths(run_dir: Path) -> list[str]:
    try:
        split = RunFolder(run_dir).read(SPLIT, {}) or {}
    except TLStudioError:
        return []
    rows = (split.get("val") or []) + (split.get("test") or []) + (split.get("train") or [])
    return [str(row[0]) for row in rows[: 4 * MAX_PARITY_SAMPLES] if isinstance(row, (list, tuple)) and row]


PARITY_TEXTS = ("A short text.", "A somewhat longer sentence, so that the batch needs padding to line up.",
                "Three words here")


def _split_texts(run_dir: Path) -> list[str]:
    try:
        split = RunFolder(run_dir).read(SPLIT, {}) or {}
    except TLStudioError:
        return []
    rows = (split.get("val") or []) + (split.get("test") or []) + (split.get("train") or [])
    return [row[2] for row in rows if isinstance(row, (list, tuple)) and len(row) == 3
            and isinstance(row[2], str) and row[2].strip()]


def text_parity_inputs(loaded: LoadedModel, run_dir: Path, texts: Sequence[str] | None) -> tuple[dict, str]:
    """Token ids and masks of texts of different lengths, padded into one batch."""
    from tlstudio.core.data.text_modality import pad_batch, tokenize

    if texts:
        chosen, source = [str(t) for t in texts if str(t).strip()][:MAX_PARITY_SAMPLES], "texts"
        if not chosen:
            raise ExportError("None of the sample texts has any words for the export check.")
    else:
        found = sorted(_split_texts(run_dir)[: 4 * MAX_PARITY_SAMPLES], key=len)
        step = max(1, len(found) // MAX_PARITY_SAMPLES)
        chosen, source = found[::step][:MAX_PARITY_SAMPLES], "texts"
        if len(chosen) < 2:
            chosen, source = list(PARITY_TEXTS), "fixed texts"
    try:
        return pad_batch(tokenize(loaded.preprocessing, chosen)), source
    except TLStudioError as exc:
        raise ExportError(f"The texts for the export check could not be tokenised: {exc}") from None


def parity_inputs(loaded: LoadedModel, run_dir: Path, sample_paths: Sequence[str] | None):
    """A batch to compare exports on, and where it came from ("images", "random", "texts")."""
    if loaded.task == "text":
        return text_parity_inputs(loaded, run_dir, sample_paths)
    transform = eval_transform(loaded.preprocessing)
    candidates = [str(p) for p in sample_paths] if sample_paths else _split_paths(run_dir)
    tensors = []
    for path in candidates:
        tensor, _ = read_image_input(path, transform)
        if tensor is not None:
            tensors.append(tensor)
        if len(tensors) >= MAX_PARITY_SAMPLES:
            break
    if tensors:
        return torch.stack(tensors), "images"
    if sample_paths:
        raise ExportError("None of the sample images could be read for the export check.")
    size = loaded.preprocessing.input_size
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, size, size, generator=generator), "random"

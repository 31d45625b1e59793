"""The two documents every export carries: its verification report and its model card.

A bundle holds ``export_report.json`` and ``MODEL_CARD.md``; a single exported file ``NAME.onnx``
(or ``NAME.pt``) gets ``NAME.export_report.json`` and ``NAME.MODEL_CARD.md`` beside it, so two
exports in one folder (FP32 and INT8, say) keep their own. A document is replaced only when an
earlier export wrote it (the report's format tag, the card's first line); a file of the user's
with that name stops the export before any work, and nothing is changed.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

from tlstudio.core.errors import ExportError
from tlstudio.core.progress import JobState
from tlstudio.core.runs.export_report import (REPORT_NAME, Candidate, is_report, onnx_runner, torch_runner, verify,
                                              write_report)
from tlstudio.core.runs.folder import LoadedModel
from tlstudio.core.runs.model_card import CARD_NAME, build_card, is_card, write_card


def document_paths(target: str | os.PathLike, bundle: bool) -> tuple[Path, Path]:
    """(report, card) of the export at ``target``: inside a bundle folder, or beside a file."""
    target = Path(target)
    if bundle:
        return target / REPORT_NAME, target / CARD_NAME
    return target.with_name(f"{target.stem}.{REPORT_NAME}"), target.with_name(f"{target.stem}.{CARD_NAME}")


def check_documents(target: str | os.PathLike, bundle: bool) -> None:
    """ExportError when a document's place holds something an export did not write."""
    report, card = document_paths(target, bundle)
    for path, ours in ((report, is_report), (card, is_card)):
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_symlink() or not path.is_file() or not ours(path):
            raise ExportError(f"{path} exists and was not written by a TL Studio export; TL Studio will not "
                              "overwrite it. Choose another name (nothing was changed).")


def bundle_candidate(folder: Path, reloaded: LoadedModel) -> Candidate:
    """A bundle's weights, as ``load_model`` reloads them from the bundle itself."""
    return Candidate("model.safetensors", "bundle", "fp32", folder / "model.safetensors", torch_runner(reloaded.model))


def torchscript_candidate(name: str, path: Path) -> Candidate:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch.jit.load's deprecation notice is not for the user
        module = torch.jit.load(str(path), map_location="cpu")
    return Candidate(name, "torchscript", "fp32", path, torch_runner(module))


def onnx_candidate(name: str, path: Path, result: dict) -> Candidate:
    """An ONNX file ``export_onnx`` wrote (``result``: its precision, method and FP32 size)."""
    smaller = result["precision"] != "fp32"
    return Candidate(name, "onnx", result["precision"], path, onnx_runner(path), result["method"],
                     result["fp32_bytes"] if smaller else None, result.get("mixed_precision"))


def write_documents(loaded: LoadedModel, run_dir: str | os.PathLike, target: str | os.PathLike, bundle: bool,
                    candidates: Sequence[Candidate], fallback_inputs=None, fallback_source: str = "",
                    unfinished: str | None = None, job: JobState | None = None) -> dict:
    """Verify ``candidates`` against PyTorch, write the report and the model card; returns the report
    (with ``report_file`` and ``card_file``, the paths written)."""
    report = verify(loaded, run_dir, candidates, fallback_inputs, fallback_source, job)
    report_file, card_file = document_paths(target, bundle)
    write_report(report, report_file)
    write_card(card_file, build_card(loaded, run_dir, report, unfinished=unfinished))
    return {**report, "report_file": str(report_file), "card_file": str(card_file)}


__all__ = ["bundle_candidate", "check_documents", "document_paths", "onnx_candidate", "torchscript_candidate",
           "write_documents"]

"""Exports of a trained run: a reloadable bundle, TorchScript and ONNX (FP32, FP16 or INT8).

Every export is checked against the PyTorch model on sample images (the run's
validation images, given paths, or random tensors) before it is kept; a text
run is checked on texts of different lengths (the run's validation texts,
given texts, or fixed sentences) padded into one batch. A text model's ONNX
file takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and
sequence axes) and gives ``logits``; its bundle carries the tokenizer and
config files (``text_model/``). A file
whose outputs drift from PyTorch is removed and ExportError is raised. Files
are written atomically; a bundle is assembled in a temporary sibling folder
and renamed into place, so a failed export never leaves a half-written folder.

An FP16 or INT8 ONNX file is converted from the checked FP32 graph (quantize.py). Every export then
writes its verification report and model card (export_documents.py): the exported files against
PyTorch on the run's held-out split — agreement, accuracy delta, sizes, latency, throughput.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import warnings
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Sequence

import torch

from tlstudio.core import atomic
from tlstudio.core.errors import ExportError, TLStudioError
from tlstudio.core.progress import JobState, check, set_progress
from tlstudio.core.data.modality import modality_for
from tlstudio.core.data.text_modality import TEXT_MODEL_DIR
from tlstudio.core.runs.run_folder import METRICS, MODEL, RunFolder
from tlstudio.core.runs.export_documents import (bundle_candidate, check_documents, onnx_candidate,
                                                 torchscript_candidate, write_documents)
from tlstudio.core.runs.export_report import Candidate
from tlstudio.core.runs.parity_inputs import parity_inputs
from tlstudio.core.runs.quantize import (DEFAULT_PRECISION, calibration_inputs, check_precision, convert_precision,
                                         precision_file_name, require_onnx)
from tlstudio.core.runs.folder import (MODEL_FORMAT, MODEL_FORMAT_VERSION, LoadedModel, load_model, read_json, read_model_info,
                   weights_file)

PARITY_TOLERANCE = 1e-3     # max |logit difference| accepted against PyTorch


def library_versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "torchvision", "timm", "tlstudio"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


class SigmoidOutputs(torch.nn.Module):
    """A multi-label model as its exports see it: one sigmoid probability per label."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.sigmoid(self.model(x))


def exported_module(loaded: LoadedModel) -> torch.nn.Module:
    """What an export runs: the model's logits, or (multi-label) its per-label sigmoid probabilities."""
    return SigmoidOutputs(loaded.model).eval() if loaded.thresholds is not None else loaded.model


def output_name(loaded: LoadedModel) -> str:
    return "probabilities" if loaded.thresholds is not None else "logits"


def _reference(loaded: LoadedModel, inputs) -> torch.Tensor:
    with torch.no_grad():
        return exported_module(loaded)(inputs).float()


def _batch_size(inputs) -> int:
    return int((inputs["input_ids"] if isinstance(inputs, dict) else inputs).shape[0])


class TextLogits(torch.nn.Module):
    """A text TransferModel as ONNX sees it: (input_ids, attention_mask) -> logits."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model({"input_ids": input_ids, "attention_mask": attention_mask})


def _check(reference: torch.Tensor, outputs: torch.Tensor, kind: str) -> float:
    if tuple(outputs.shape) != tuple(reference.shape):
        raise ExportError(f"The {kind} export gives outputs of shape {tuple(outputs.shape)} "
                          f"instead of {tuple(reference.shape)}; the file was not kept.")
    diff = float((outputs.float() - reference).abs().max())
    if not diff <= PARITY_TOLERANCE:   # also catches NaN
        raise ExportError(f"The {kind} export differs from PyTorch by up to {diff:.2g} "
                          f"(limit {PARITY_TOLERANCE:g}); the file was not kept.")
    return diff


def _prepare(run_dir, sample_paths: Sequence[str] | None) -> tuple[LoadedModel, torch.Tensor, str, torch.Tensor]:
    """The model on CPU, the parity inputs, where they came from, and PyTorch's outputs on them."""
    run_dir = Path(run_dir)
    loaded = load_model(run_dir, device="cpu")
    inputs, source = parity_inputs(loaded, run_dir, sample_paths)
    return loaded, inputs, source, _reference(loaded, inputs)


def export_torchscript(run_dir, out_path, sample_paths: Sequence[str] | None = None, force: bool = False,
                       precision: str = DEFAULT_PRECISION, job: JobState | None = None) -> dict:
    """Trace the model to TorchScript; returns {path, max_abs_diff, samples, inputs, report}."""
    require_onnx(check_precision(precision), onnx=False)
    out_path = check_file_target(out_path, "torchscript", force)
    check_documents(out_path, bundle=False)
    _check_torchscript(read_model_info(run_dir).get("task", "image"))
    prepared = _prepare(run_dir, sample_paths)
    result = _write_torchscript(prepared, out_path)
    result["report"] = _document_file(prepared, run_dir, out_path, torchscript_candidate(out_path.name, out_path), job)
    return result


def _check_torchscript(task: str) -> None:
    if not modality_for(task).torchscript_export:
        raise ExportError("TorchScript export is for image models; export a text model as ONNX or a bundle.")


def _document_file(prepared, run_dir, out_path: Path, candidate: Candidate, job: JobState | None) -> dict:
    """The report and model card beside an exported file; returns the report."""
    loaded, inputs, source, _ = prepared
    return write_documents(loaded, run_dir, out_path, False, [candidate], inputs, f"{source} for the export check",
                           RunFolder(run_dir).interruption(), job)


def _write_torchscript(prepared, out_path) -> dict:
    loaded, inputs, source, reference = prepared
    out_path = Path(out_path)
    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but TorchScript files
        # are still what C++/mobile runtimes load; the warning is not for the user.
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                traced = torch.jit.trace(exported_module(loaded), inputs[:1], check_trace=False)
        except Exception as exc:  # tracing errors come in many types
            raise ExportError(f"TorchScript export failed for {loaded.info['model_name']}: {exc}") from None
        with atomic.atomic_path(out_path) as tmp:
            torch.jit.save(traced, str(tmp))
            reloaded = torch.jit.load(str(tmp), map_location="cpu")
            with torch.no_grad():
                diff = _check(reference, reloaded(inputs), "TorchScript")
    return {"path": str(out_path), "max_abs_diff": diff, "samples": _batch_size(inputs), "inputs": source}


def _onnxruntime():
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("ONNX export needs the 'onnxruntime' package (pip install tlstudio[export]).") from None
    return ort


def export_onnx(run_dir, out_path, sample_paths: Sequence[str] | None = None, force: bool = False,
                precision: str = DEFAULT_PRECISION, job: JobState | None = None) -> dict:
    """Export to ONNX with a dynamic batch axis, checked with onnxruntime; FP16 or INT8 when asked.

    Returns {path, max_abs_diff (of the FP32 graph), samples, inputs, precision, method, report}.
    """
    precision = check_precision(precision)
    out_path = check_file_target(out_path, "onnx", force)
    check_documents(out_path, bundle=False)
    _onnxruntime()
    prepared = _prepare(run_dir, sample_paths)
    result = _write_onnx(prepared, out_path, precision, run_dir, job)
    result["report"] = _document_file(prepared, run_dir, out_path, onnx_candidate(out_path.name, out_path, result),
                                      job)
    return result


def _write_onnx(prepared, out_path, precision: str = DEFAULT_PRECISION, run_dir=None,
                job: JobState | None = None) -> dict:
    ort = _onnxruntime()
    loaded, inputs, source, reference = prepared
    out_path = Path(out_path)
    with atomic.atomic_path(out_path) as tmp:
        _onnx_write(exported_module(loaded), inputs, tmp, output_name(loaded))
        if loaded.thresholds is not None:
            _label_metadata(tmp, loaded)
        try:
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            if isinstance(inputs, dict):
                feed = {i.name: inputs[i.name].numpy() for i in session.get_inputs()}
            else:
                feed = {session.get_inputs()[0].name: inputs.numpy()}
            outputs = torch.from_numpy(session.run(None, feed)[0])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ExportError(f"The ONNX file could not be run by onnxruntime: {exc}") from None
        diff = _check(reference, outputs, "ONNX")
        fp32_bytes = tmp.stat().st_size
        # FP16 / INT8 from the checked FP32 graph; INT8 calibrates on the run's own training samples
        conversion = convert_precision(tmp, tmp, precision, lambda: calibration_inputs(loaded, run_dir, inputs),
                                       job=job)
    return {"path": str(out_path), "max_abs_diff": diff, "samples": _batch_size(inputs), "inputs": source,
            "precision": precision, "method": conversion.method, "mixed_precision": conversion.mixed_precision,
            "fp32_bytes": fp32_bytes}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _label_metadata(path: Path, loaded: LoadedModel) -> None:
    """A multi-label ONNX file says what its outputs are: metadata ``tlstudio.task_type``,
    ``tlstudio.labels`` and ``tlstudio.thresholds`` (JSON lists, in output order)."""
    import json

    import onnx

    proto = onnx.load_model(str(path), load_external_data=False)
    for key, value in (("tlstudio.task_type", "multilabel"), ("tlstudio.output", "sigmoid probabilities"),
                       ("tlstudio.labels", json.dumps(list(loaded.classes), ensure_ascii=False)),
                       ("tlstudio.thresholds", json.dumps(list(loaded.thresholds)))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, str(path))


def _onnx_write_text(model: torch.nn.Module, inputs: dict, path: Path, output: str = "logits") -> None:
    """(input_ids, attention_mask) -> logits with dynamic batch and sequence axes.

    torch.export first; XLNet's graph does not decompose there (an ``aten.sub``
    overload), so the TorchScript-based exporter is the fallback.
    """
    wrapper = TextLogits(model).eval()
    ids, mask = inputs["input_ids"][:2], inputs["attention_mask"][:2]
    if ids.shape[0] < 2:
        ids, mask = torch.cat([ids, ids]), torch.cat([mask, mask])
    names = ["input_ids", "attention_mask"]
    errors = []
    with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        warnings.simplefilter("ignore")
        try:
            batch = torch.export.Dim("batch", min=1, max=4096)
            seq = torch.export.Dim("sequence", min=1, max=100_000)
            torch.onnx.export(wrapper, (ids, mask), str(path), dynamo=True, verbose=False, external_data=False,
                              input_names=names, output_names=[output],
                              dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
            return
        except Exception as exc:  # fall back below
            errors.append(_first_line(exc))
        try:
            axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                    output: {0: "batch"}}
            torch.onnx.export(wrapper, (ids, mask), str(path), dynamo=False, input_names=names,
                              output_names=[output], dynamic_axes=axes)
            return
        except Exception as exc:
            errors.append(_first_line(exc))
    raise ExportError(f"ONNX export failed: {' / '.join(errors)}")


def _onnx_write(model: torch.nn.Module, inputs, path: Path, output: str = "logits") -> None:
    """torch.export-based exporter first; the TorchScript-based one if that fails."""
    if isinstance(inputs, dict):
        _onnx_write_text(model, inputs, path, output)
        return
    example = inputs[:2] if inputs.shape[0] >= 2 else torch.cat([inputs, inputs])
    errors = []
    # The exporter prints progress lines; keep stdout clean for the CLI's JSON.
    with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=True, verbose=False, external_data=False,
                              input_names=["input"], output_names=[output],
                              dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
            return
        except Exception as exc:  # fall back below
            errors.append(_first_line(exc))
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"],
                              output_names=[output], dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}})
            return
        except Exception as exc:
            errors.append(_first_line(exc))
    raise ExportError(f"ONNX export failed: {' / '.join(errors)}")


def export_bundle(run_dir, out_dir, *, torchscript: bool = False, onnx: bool = False,
                  sample_paths: Sequence[str] | None = None, force: bool = False,
                  job: JobState | None = None, precision: str = DEFAULT_PRECISION) -> Path:
    """A self-contained folder load_model() reloads without the dataset.

    model.safetensors + model.json (architecture, classes, preprocessing, head,
    metrics, library versions) + metrics.json; optionally model.torchscript.pt
    and model.onnx (model.fp16.onnx / model.int8.onnx with ``precision``), each parity-checked; the
    verification report and MODEL_CARD.md (export_documents.py). The weights are loaded into the model
    before they are shipped. ``out_dir`` must be new or empty; a previous bundle
    there is replaced only with ``force``, and then only its own files go. ``job`` is checked
    between the steps (a cancel leaves no bundle behind) and told the steps done.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir).absolute()
    precision = require_onnx(check_precision(precision), onnx)
    info = read_model_info(run_dir)
    source_weights = weights_file(run_dir, info)
    previous = _check_bundle_target(out_dir, force)
    if previous:
        check_documents(out_dir, bundle=True)
    loaded = load_model(run_dir, device="cpu")          # verifies the weights really are this model's
    if torchscript:
        _check_torchscript(loaded.task)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = atomic.new_temp_dir(out_dir.parent, out_dir.name)
    try:
        metrics = RunFolder(run_dir).read(METRICS)
        bundle_info = {k: v for k, v in info.items() if k not in ("format", "version")}
        bundle_info.update({"weights_file": "model.safetensors", "metrics": metrics,
                            "versions": {**library_versions(), **modality_for(loaded.task).library_versions()}})
        unfinished = RunFolder(run_dir).interruption()
        if unfinished:      # the bundle says it holds an unfinished run's best weights so far
            bundle_info["unfinished_run"] = unfinished
        atomic.write_bytes(staging / "model.safetensors", source_weights.read_bytes())
        # Text: the tokenizer and config travel with the weights (text_model/); images: the description.
        bundle_info["preprocessing"] = modality_for(loaded.task).save_preprocessing(loaded.preprocessing, staging)
        if metrics is not None:
            atomic.write_json(staging / METRICS, metrics)
        exports = {}
        steps = 2 + int(torchscript) + int(onnx)
        set_progress(job, 0, steps)
        if onnx:
            _onnxruntime()      # fail before any work when onnxruntime is missing
        check(job)
        inputs, source = parity_inputs(loaded, run_dir, sample_paths)   # loaded once for every check
        prepared = (loaded, inputs, source, _reference(loaded, inputs) if torchscript or onnx else None)
        set_progress(job, 1, steps)
        if torchscript:
            check(job)
            result = _write_torchscript(prepared, staging / "model.torchscript.pt")
            exports["torchscript"] = {"file": "model.torchscript.pt", "max_abs_diff": result["max_abs_diff"]}
            set_progress(job, 1 + int(torchscript), steps)
        if onnx:
            check(job)
            name = precision_file_name("model", precision)
            onnx_result = _write_onnx(prepared, staging / name, precision, run_dir, job)
            exports["onnx"] = {"file": name, "max_abs_diff": onnx_result["max_abs_diff"], "precision": precision}
        check(job)
        if exports:
            bundle_info["exports"] = exports
        full = {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION}
        full.update(bundle_info)
        atomic.write_json(staging / MODEL, full)
        set_progress(job, steps - 1, steps)
        candidates = [bundle_candidate(staging, load_model(staging, device="cpu"))]   # the bundle reloads
        if torchscript:
            candidates.append(torchscript_candidate("model.torchscript.pt", staging / "model.torchscript.pt"))
        if onnx:
            candidates.append(onnx_candidate(name, staging / name, onnx_result))
        write_documents(loaded, run_dir, staging, True, candidates, inputs, f"{source} for the export check",
                        unfinished, job)
        files = sorted(p.name for p in staging.iterdir())
        atomic.write_json(staging / EXPORT_MANIFEST, {"kind": "bundle", "files": files})   # last: marks it complete
        _place_bundle(staging, out_dir, previous)
        set_progress(job, steps, steps)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


EXPORT_MANIFEST = ".tlstudio-export.json"   # in a bundle: the files that export wrote, and nothing else
BUNDLE_FOLDERS = (TEXT_MODEL_DIR,)            # the only folders an export writes (and may replace)


def _previous_bundle_files(folder: Path) -> list[str] | None:
    """The files a previous bundle export wrote into ``folder``, or None when it is not one."""
    manifest = folder / EXPORT_MANIFEST
    if not manifest.is_file() or manifest.is_symlink():
        return None
    try:
        data = read_json(manifest)
    except TLStudioError:
        return None
    files = data.get("files") if isinstance(data, dict) and data.get("kind") == "bundle" else None
    if not isinstance(files, list) or not all(isinstance(f, str) and f and Path(f).name == f
                                              and f not in (".", "..") for f in files):
        return None
    return files


def _check_bundle_target(out_dir: Path, force: bool) -> list[str]:
    """The previous bundle's own files to replace ([] for a new or empty folder); ExportError otherwise."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return []
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise ExportError(f"{out_dir} already exists and is not a folder; choose a new or empty folder.")
    if not any(out_dir.iterdir()):
        return []
    previous = _previous_bundle_files(out_dir)
    if previous is None:
        raise ExportError(f"{out_dir} is not empty and is not a TL Studio export; choose a new or empty folder "
                          "(nothing was changed).")
    if not force:
        raise ExportError(f"{out_dir} holds an earlier export; use --force to replace it (only its own files "
                          "are replaced).")
    return previous


def _place_bundle(staging: Path, out_dir: Path, previous: list[str]) -> None:
    """Move the finished bundle into place; of an earlier export only its own files go."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    for name in previous + [EXPORT_MANIFEST]:
        old = out_dir / name
        if old.is_file() or old.is_symlink():
            old.unlink()
        elif old.is_dir() and name in BUNDLE_FOLDERS:   # a text bundle's tokenizer folder
            shutil.rmtree(old)
    for item in sorted(staging.iterdir(), key=lambda p: p.name == EXPORT_MANIFEST):   # manifest last
        os.replace(item, out_dir / item.name)
    staging.rmdir()


def _is_export_of_kind(path: Path, kind: str) -> bool:
    """Whether an existing file is a TorchScript or ONNX export (checked without unpickling anything)."""
    if not path.is_file() or path.is_symlink():
        return False
    if kind == "torchscript":
        try:
            with zipfile.ZipFile(path) as archive:
                return any("/code/" in name for name in archive.namelist())
        except (OSError, zipfile.BadZipFile):
            return False
    try:
        import onnx

        onnx.load_model(str(path), load_external_data=False)
        return True
    except Exception:  # onnx raises several types for a file that is not ONNX
        return False


def check_file_target(out_path, kind: str, force: bool) -> Path:
    """An export file may be written to ``out_path``: new, or (with force) a previous export of that kind."""
    out_path = Path(out_path).absolute()
    if out_path.exists() or out_path.is_symlink():
        if not force:
            raise ExportError(f"{out_path} already exists; use --force to replace an earlier export "
                              "(nothing was changed).")
        if not _is_export_of_kind(out_path, kind):
            raise ExportError(f"{out_path} exists and is not a {kind} export; TL Studio will not overwrite it.")
    return out_path

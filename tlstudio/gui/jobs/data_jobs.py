"""Worker jobs of the Data tab: scanning a dataset (image or text), reading a text file's
columns, token-length statistics. Each runs through ``tasks.run_task``, never on the GUI thread
(the text modules import torch and transformers)."""
from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

# Tokenizers already loaded, by model folder (loading one reads its files: ~0.3 s).
_TOKENIZERS: dict[str, object] = {}
_TOKENIZERS_LOCK = threading.Lock()
TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def scan_dataset(path: str, project_task: str = "image", text_column: str = "", label_column: str = "",
                 task=None):
    """Scan ``path`` as a text dataset when the data says so (or the project is a text project and
    the path is a data file or a folder without images), else as images. The index's ``task`` says
    which it was."""
    from tlstudio.core.data.text import is_text_dataset, scan_text

    source = Path(path)
    text = is_text_dataset(source) or (project_task == "text" and (
        source.suffix.lower() in TEXT_SUFFIXES or (source.is_dir() and not _has_images(source))))
    if text:
        if task is not None:
            task.check()
        return scan_text(source, text_column=text_column or None, label_column=label_column or None)
    from tlstudio.core.data.images import scan

    return scan(path, task=task)


def _has_images(folder: Path) -> bool:
    from tlstudio.core.data.images import IMAGE_EXTENSIONS

    for sub in folder.iterdir():
        if sub.is_dir():
            if any(f.suffix.lower() in IMAGE_EXTENSIONS for f in sub.iterdir()):
                return True
    return False


def data_columns(path: str) -> list[str]:
    """The column names of a CSV/TSV header or the fields of a JSON Lines file's first object."""
    source = Path(path)
    if not source.is_file() or source.suffix.lower() not in TEXT_SUFFIXES:
        return []
    with open(source, encoding="utf-8-sig", errors="replace", newline="") as fh:
        if source.suffix.lower() in (".jsonl", ".ndjson"):
            for line in fh:
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        return []
                    return [str(k) for k in obj] if isinstance(obj, dict) else []
            return []
        first = fh.readline()
    delimiter = "\t" if source.suffix.lower() == ".tsv" else ","
    return [c.strip() for c in next(csv.reader([first], delimiter=delimiter), [])]


def load_tokenizer(model_name: str):
    """The tokenizer of a text model (bundled, cached or a folder), from local files only."""
    from tlstudio.core.zoo.text_encoder import prepare_tokenizer
    from tlstudio.core.zoo.text_sources import resolve_model_folder

    folder = str(resolve_model_folder(model_name, allow_download=False))
    with _TOKENIZERS_LOCK:
        if folder not in _TOKENIZERS:
            from tlstudio.core.heavy_imports import transformers_api

            hf = transformers_api()
            config = hf.AutoConfig.from_pretrained(folder, local_files_only=True)
            tokenizer = hf.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            _TOKENIZERS[folder] = prepare_tokenizer(tokenizer, str(getattr(config, "model_type", "")))
        return _TOKENIZERS[folder]


def token_stats(index, model_name: str, max_length: int, task=None):
    """Token-length statistics of a text dataset for the project's model and max length."""
    from tlstudio.core.data.text_lengths import token_length_stats

    tokenizer = load_tokenizer(model_name)
    if task is not None:
        task.check()
    return token_length_stats(index.samples, index.classes, tokenizer, int(max_length))

"""Worker jobs of the Data tab: scanning a dataset (image or text), reading a text file's
columns, token-length statistics, the split's summary and augmentation previews. Each runs through ``tasks.run_task``, never on the GUI thread
(the text modules import torch and transformers)."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QImage

from tlstudio.gui.qimages import pil_to_qimage

# Tokenizers already loaded, by model folder (loading one reads its files: ~0.3 s).
_TOKENIZERS: dict[str, object] = {}
_TOKENIZERS_LOCK = threading.Lock()
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class Undecided:
    """A scan's answer when the data's kind cannot be told: what was found and what to ask."""

    path: str
    found: str
    choices: tuple[str, ...]


def scan_dataset(path: str, kind: str | None = None, text_column: str = "", label_column: str = "",
                 encoding: str = "", job=None, unlabeled_folder: str | None = None):
    """Scan ``path`` through ``core.data.modality.scan`` as ``kind`` ("image", "text"; None: detected;
    chosen text/label columns mean text; ``unlabeled_folder``: the pool folder's name, None: the
    default). The index's ``task`` says which it was; ``Undecided`` when the data does not say (the
    Data tab then asks)."""
    from types import SimpleNamespace

    from tlstudio.core.data.modality import scan
    from tlstudio.core.errors import UndecidedDataError

    data = SimpleNamespace(text_column=text_column or None, label_column=label_column or None,
                           encoding=encoding or None, unlabeled_folder=unlabeled_folder)
    try:
        return scan(path, kind or ("text" if text_column or label_column else None), data=data, job=job)
    except UndecidedDataError as exc:
        return Undecided(str(path), exc.found, tuple(exc.choices))


def data_columns(path: str, encoding: str = "") -> list[str]:
    """The column names of a table's header (its delimiter sniffed) or the fields of a JSON Lines
    file's first object."""
    from tlstudio.core.data.detect import peek_table
    from tlstudio.core.errors import TLStudioError

    source = Path(path)
    if not source.is_file() or source.suffix.lower() not in TEXT_SUFFIXES:
        return []
    if source.suffix.lower() in (".jsonl", ".ndjson"):
        with open(source, encoding="utf-8-sig", errors="replace", newline="") as fh:
            for line in fh:
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        return []
                    return [str(k) for k in obj] if isinstance(obj, dict) else []
        return []
    try:
        peek = peek_table(source, encoding or None)
    except TLStudioError:
        return []
    return [c.strip() for c in peek.rows[0]] if peek is not None and peek.rows else []


def load_tokenizer(model_name: str):
    """The tokenizer of a text model (bundled, cached or a folder), from local files only; this job's own
    instance (see ``text_modality.load_prepared_tokenizer``)."""
    from tlstudio.core.data.text_modality import load_prepared_tokenizer
    from tlstudio.core.zoo.text_sources import resolve_model_folder

    folder = str(resolve_model_folder(model_name, allow_download=False))
    with _TOKENIZERS_LOCK:
        if folder not in _TOKENIZERS:
            _TOKENIZERS[folder] = load_prepared_tokenizer(folder)
        return _TOKENIZERS[folder]


def token_stats(index, model_name: str, max_length: int, job=None):
    """Token-length statistics of a text dataset for the project's model and max length."""
    from tlstudio.core.data.text_lengths import token_length_stats

    tokenizer = load_tokenizer(model_name)
    if job is not None:
        job.check()
    return token_length_stats(index.samples, index.classes, tokenizer, int(max_length))


def split_summary(index, val_fraction: float, test_fraction: float, seed: int, search: bool = False) -> str:
    """The split the run will use (and warnings) as rich text; runs in a worker. With ``search`` (Automatic
    head fitting) the head is scored by k-fold cross-validation on train + validation, as the trainer does."""
    from tlstudio.core.data.index import require_labels, split_dataset
    from tlstudio.core.data.modality import modality_for

    require_labels(index, modality_for(getattr(index, "task", "image")).noun)   # an unlabeled pool only: say so
    split = split_dataset(index, val_fraction, test_fraction, seed)
    counts = f"Train {len(split.train):,} · Validation {len(split.val):,} · Test {len(split.test):,}"
    text = f"<b>{counts}</b>"
    if search:
        from collections import Counter

        from tlstudio.core.headsearch.search import CV_MAX_SAMPLES, FOLDS

        labelled = list(split.train) + list(split.val)
        smallest = min(Counter(s.label for s in labelled).values(), default=0)
        if len(labelled) <= CV_MAX_SAMPLES and smallest >= 2:
            how = f"{min(FOLDS, smallest)}-fold cross-validation on all {len(labelled):,} labelled samples"
        else:
            how = f"the validation split ({len(split.val):,}) scores the head search (more than {CV_MAX_SAMPLES:,})"
        text = (f"<b>Automatic head fitting: {how}</b>; test {len(split.test):,} held out. "
                f"The validation fraction applies to Fixed epochs and fine-tuning ({counts}).")
    if split.warnings:
        text += "<br><span style='color:#9a5b00'>" + "<br>".join(split.warnings[:5]) + "</span>"
    return text


def preview_job(path: str, model_name: str, image_size: int | None, preset: str, n: int) -> list[QImage]:
    """Worker side: augmented views of one image, as QImages."""
    from tlstudio.core.zoo.cards import get_card
    from tlstudio.core.data.images import load_image_rgb
    from tlstudio.core.data.transforms import augment_previews

    pre = get_card(model_name).preprocessing
    if image_size:
        pre = pre.with_input_size(image_size)
    return [pil_to_qimage(im) for im in augment_previews(load_image_rgb(path), pre, preset, n=n)]

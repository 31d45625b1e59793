"""The text ``Modality`` (see ``tlstudio.core.data.modality`` for the interface).

Samples carry their text (``Sample.text``). A dataset tokenises its texts once
(truncated at the run's ``max_length``, no padding); ``collate`` pads a batch
to its own longest text (dynamic padding) on the tokenizer's side (right, or
left for XLNet) and returns ``{"input_ids", "attention_mask"}``, which a text
model's base (``zoo/text_encoder.py``'s ``TextEncoder``) takes as one mapping.

The preprocessing of a text model is a small JSON-able value: the folder that
holds the tokenizer and the model's config, the maximum length in tokens, the
pooling and the transformers ``model_type``. A run keeps its own copy of the
tokenizer and config files (``text_model/`` in the run folder), so the run
reloads and exports without the original model folder.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from tlstudio.core.data.index import DatasetIndex, Sample, unlabeled_folder
from tlstudio.core.errors import DatasetError, ProjectError
from tlstudio.core.zoo.text_cards import DEFAULT_MAX_LENGTH, DEFAULT_TEXT_MODEL
from tlstudio.core.progress import JobState

TEXT_MODEL_DIR = "text_model"       # in a run folder / bundle: the tokenizer and config files
MIN_MAX_LENGTH = 4
MAX_MAX_LENGTH = 4096               # above any catalog model's own limit (a card's limit still applies)
# The files of a model folder that describe the architecture and the tokenizer (never the weights).
_TOKENIZER_FILE_NAMES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                         "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
                         "added_tokens.json", "sentence_bert_config.json", "modules.json")


@dataclass(frozen=True)
class TextPreprocessing:
    folder: str           # the folder with the tokenizer files and config.json (absolute)
    max_length: int       # tokens; longer texts are truncated
    pooling: str
    model_type: str
    tokenizer_sha256: str = ""   # of the tokenizer files: a feature-cache key part

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "text", "tokenizer": self.folder, "max_length": int(self.max_length),
                "pooling": self.pooling, "model_type": self.model_type,
                "tokenizer_sha256": self.tokenizer_sha256}

    @classmethod
    def from_dict(cls, d: dict, folder: str | os.PathLike | None = None) -> "TextPreprocessing":
        """``folder``: where a relative ``tokenizer`` entry is resolved (the run or bundle folder)."""
        if not isinstance(d, dict) or d.get("kind") != "text":
            raise ValueError("not a text preprocessing description")
        where = str(d["tokenizer"])
        if folder is not None and not os.path.isabs(where):
            if Path(where).name != where or where in (".", ".."):
                raise ValueError(f"tokenizer folder {where!r} is not a folder name inside the run")
            where = str(Path(folder) / where)
        max_length = d.get("max_length")
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise ValueError(f"max_length must be a positive whole number, not {max_length!r}")
        return cls(where, max_length, str(d.get("pooling", "mean")), str(d.get("model_type", "")),
                   str(d.get("tokenizer_sha256", "")))


def load_prepared_tokenizer(folder: str, model_type: str | None = None):
    """A fresh tokenizer from a Hugging Face folder (local files only), with a pad token and the family's
    padding side (``model_type`` read from the folder's config when not given). Callers cache it: a fast
    tokenizer must not be used from two threads at once (its truncation settings change per call), so the
    GUI's token-length counter keeps an instance of its own rather than sharing this module's."""
    from tlstudio.core.heavy_imports import transformers_api
    from tlstudio.core.zoo.text_encoder import prepare_tokenizer

    hf = transformers_api()
    if model_type is None:
        model_type = str(getattr(hf.AutoConfig.from_pretrained(folder, local_files_only=True), "model_type", ""))
    tokenizer = hf.AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    return prepare_tokenizer(tokenizer, model_type)


@lru_cache(maxsize=8)
def _load_tokenizer(folder: str, model_type: str, mtime: int):
    return load_prepared_tokenizer(folder, model_type)


def tokenizer_for(pre: TextPreprocessing):
    """The tokenizer of ``pre`` (cached per folder), with a pad token and the family's padding side."""
    try:
        mtime = int(os.stat(pre.folder).st_mtime_ns)
    except OSError as exc:
        raise DatasetError(f"The tokenizer folder {pre.folder} is missing: {exc.strerror or exc}.") from None
    try:
        return _load_tokenizer(pre.folder, pre.model_type, mtime)
    except DatasetError:
        raise
    except Exception as exc:  # transformers raises many types for a broken folder
        raise DatasetError(f"Could not load the tokenizer in {pre.folder}: {exc}") from None


@dataclass(frozen=True)
class TokenIds:
    """One tokenised text (special tokens included, truncated) and how its batch pads."""

    ids: tuple[int, ...]
    pad_id: int
    left: bool


def tokenize(pre: TextPreprocessing, texts: Sequence[str]) -> list[TokenIds]:
    tokenizer = tokenizer_for(pre)
    if not texts:
        return []
    enc = tokenizer(list(texts), truncation=True, max_length=int(pre.max_length), padding=False,
                    add_special_tokens=True, verbose=False)
    pad_id = int(tokenizer.pad_token_id)
    left = tokenizer.padding_side == "left"
    return [TokenIds(tuple(int(i) for i in ids), pad_id, left) for ids in enc["input_ids"]]


def pad_batch(items: Sequence[TokenIds]) -> dict:
    """``{"input_ids", "attention_mask"}`` padded to the longest item (at least one token)."""
    import torch

    longest = max(1, max(len(t.ids) for t in items))
    ids = torch.empty((len(items), longest), dtype=torch.long)
    mask = torch.zeros((len(items), longest), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.ids)
        ids[row].fill_(item.pad_id)
        span = slice(longest - n, longest) if item.left else slice(0, n)
        if n:
            ids[row, span] = torch.tensor(item.ids, dtype=torch.long)
            mask[row, span] = 1
    return {"input_ids": ids, "attention_mask": mask}


class TokenizedTexts:
    """(TokenIds, label) items; item ``k`` is sample ``k % n`` (text has no augmented rounds)."""

    def __init__(self, pre: TextPreprocessing, samples: Sequence[Sample], rounds: int = 1):
        self.samples = list(samples)
        self.tokens = tokenize(pre, [s.text or "" for s in self.samples])
        self.rounds = max(1, int(rounds))

    def __len__(self) -> int:
        return len(self.samples) * self.rounds

    def __getitem__(self, k: int):
        i = int(k) % len(self.samples)
        return self.tokens[i], int(self.samples[i].label)

    def lengths(self) -> list[int]:
        return [len(t.ids) for t in self.tokens] * self.rounds


class TextReader:
    """Reads one sample's text as a model input (for prediction and evaluation)."""

    def __init__(self, pre: TextPreprocessing):
        self.pre = pre

    def __call__(self, sample: Sample) -> TokenIds:
        if sample.text is None:
            raise ValueError(f"{sample.path} carries no text")
        return tokenize(self.pre, [sample.text])[0]


def text_identity(sample: Sample) -> list:
    """sha256 of the text, with the label: the feature cache's content key of a text."""
    digest = hashlib.sha256((sample.text or "").encode("utf-8")).hexdigest()
    return [digest, int(sample.label)]


def tokenizer_files_hash(folder: str | os.PathLike) -> str:
    """sha256 over the tokenizer and config files of a model folder (names and bytes)."""
    digest = hashlib.sha256()
    for name in _TOKENIZER_FILE_NAMES:
        path = Path(folder) / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def copy_tokenizer_files(source: str | os.PathLike, dest: str | os.PathLike) -> list[str]:
    """Copy a model folder's config and tokenizer files (not its weights) into ``dest``."""
    source, dest = Path(source), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in _TOKENIZER_FILE_NAMES:
        path = source / name
        if path.is_file() and not (dest / name).exists():
            shutil.copyfile(path, dest / name)
            copied.append(name)
    for sub in ("1_Pooling",):
        if (source / sub / "config.json").is_file():
            (dest / sub).mkdir(exist_ok=True)
            shutil.copyfile(source / sub / "config.json", dest / sub / "config.json")
    if "config.json" not in copied and not (dest / "config.json").is_file():
        raise DatasetError(f"The model folder {source} has no config.json to keep with the run.")
    return copied


class TextModality:
    name = "text"
    noun = "texts"
    base_word = "encoder"
    needs_workers = False
    torchscript_export = False     # tracing a transformer needs its tokenizer too: ONNX or a bundle instead
    shown_as_thumbnails = False
    curation_on_disk = False     # rows of a CSV are not files to move
    default_model = DEFAULT_TEXT_MODEL
    # The epoch loop's head lr when the user left lr to the defaults: heads on sentence features learn
    # ~10x faster than the image default allows (demo text data, MiniLM, mean of 3 seeds: 1e-3 -> 0.870
    # after 5 epochs, 1e-2 -> 0.958 with the lowest loss; benchmarks/bench_text_lr.py).
    default_lr = 1e-2
    max_length_range = (MIN_MAX_LENGTH, MAX_MAX_LENGTH)    # tokens, before the card's own limit
    default_max_length = DEFAULT_MAX_LENGTH
    zero_shot = "sentence-encoder"      # core/zeroshot: class names embedded by the bundled sentence encoder
    few_label_tunings = ("contrastive",)
    # "auto" considers tuning the encoder contrastively (core/train/contrastive.py) when the median class has
    # at most this many training labels; above 32 per class it was not measured, the frozen head is kept.
    few_labels_per_class = 32
    # ... and then tunes only when a probe on the frozen features (core/train/few_label_probe.py: leave-one-out
    # nearest-class-mean accuracy on the training texts, as a share of the way from chance to all right) is
    # below this. benchmarks/bench_fewshot.py, 3 seeds each at 8 and 16 per class: Debian package roles (probe
    # 0.47-0.70; contrastive +15.6 / +14.2 points over the frozen encoder + searched head) and WordNet glosses
    # by part of speech (0.42-0.60) below it; Debian topical sections (0.75-0.88; +0.1 / -1.4) and the demo
    # topics (0.87-0.94; +3.0 / +0.4, minutes of tuning each: MiniLM's geometry is already topical) above.
    few_label_probe_enough = 0.725
    # The Train tab's "Few labels" box: (value, wording) per choice, and what the box is about.
    few_label_choices = (("auto", "Automatic: tune when needed"), ("contrastive", "Contrastive encoder tuning"),
                         ("off", "Off (frozen encoder)"))
    few_label_help = ("Few labels: before the head, tune the sentence encoder on pairs of your labelled texts\n"
                      "(same class pulled together, other classes pushed apart), then fit the head on its "
                      "features.\nAutomatic: considered when the median class has at most 32 training labels "
                      "and the model is a sentence encoder;\nthen a quick check on the frozen features decides: "
                      "each training text is put in the class whose mean it lies nearest,\nand tuning runs when "
                      "that is right less than about three quarters of the way from chance to always\n(where it "
                      "is right more often, the encoder already separates your classes and tuning gains little).\n"
                      "The head is then scored on the validation split, which the encoder never saw.")
    few_label_summary = ""       # nothing to say under the box until a run decided

    def few_label_plan(self, per_class: Sequence[int], card: Any) -> tuple[str, str]:
        """What a run whose classes have ``per_class`` training labels does to the encoder when the
        Project leaves it to "auto", and why: ("contrastive", "") for a sentence encoder (mean pooling,
        as sentence-transformers models declare) with few labels -- the run's probe on the frozen
        features then decides (``few_label_probe_enough``) -- else ("off", the reason). GPT-2 or XLNet
        states pooled from one token are not what the pairwise cosine loss shapes."""
        counts = sorted(int(n) for n in per_class if n > 0)
        if not counts:
            return "off", "no class has training labels"
        if getattr(card, "pooling", "") != "mean":
            return "off", (f"contrastive tuning is for sentence encoders (mean pooling); "
                           f"{getattr(card, 'name', 'this model')} pools one token")
        median = counts[len(counts) // 2]
        if median > self.few_labels_per_class:
            return "off", (f"the median class has {median} training texts; tuning is for at most "
                           f"{self.few_labels_per_class}")
        return "contrastive", ""

    def scan(self, path: str | os.PathLike, *, job: JobState | None = None, data: Any = None) -> DatasetIndex:
        """``data``: the Project's DataSettings; its text/label column choice (when set) is used."""
        from tlstudio.core.data.text import scan_text
        from tlstudio.core.progress import check

        check(job)
        index = scan_text(path, text_column=getattr(data, "text_column", None) or None,
                          label_column=getattr(data, "label_column", None) or None,
                          encoding=getattr(data, "encoding", None) or None,
                          task_type=getattr(data, "task_type", None) or None,
                          unlabeled_folder=unlabeled_folder(data))
        check(job)
        return index

    def claim(self, path: str | os.PathLike, *, encoding: str | None = None) -> "Claim":
        """JSON Lines, class folders of .txt files, or a table with a text column and a label column."""
        from tlstudio.core.data.detect import (JSONL_SUFFIXES, NOT, SURE, Claim, claim_for_table_or_folder,
                                               text_folder_claim, text_table_claim)

        if Path(path).suffix.lower() in JSONL_SUFFIXES and Path(path).is_file():
            return Claim(SURE, "a JSON Lines file")
        return claim_for_table_or_folder(path, encoding, text_folder_claim, text_table_claim,
                                         Claim(NOT, "not a table, JSON Lines or a folder"))

    def sample_key(self, sample: Sample) -> list:
        return text_identity(sample)

    def library_versions(self) -> dict[str, str]:
        from tlstudio.core.heavy_imports import transformers_api

        hf = transformers_api()
        return {"transformers": hf.transformers.__version__, "tokenizers": hf.tokenizers.__version__}

    def model_card(self, model_settings: Any):
        from tlstudio.core.zoo.text_cards import text_card_for

        return text_card_for(model_settings.name)

    def offline_models(self) -> list[str]:
        """Catalog models whose folder is on this computer (bundled, in the Hugging Face cache, imported)."""
        from tlstudio.core.zoo.text_cards import list_text_cards
        from tlstudio.core.zoo.text_sources import text_weight_source

        return [card.name for card in list_text_cards() if text_weight_source(card.name) in ("bundled", "cached",
                                                                                               "folder")]

    def preprocessing(self, card: Any, model_settings: Any) -> TextPreprocessing:
        """The card's folder, the Project's max_length (checked against the model's limit) and pooling."""
        from tlstudio.core.zoo.text_sources import model_folder_for

        limit = int(card.max_length)
        wanted = getattr(model_settings, "max_length", None)
        if wanted is None:
            wanted = min(DEFAULT_MAX_LENGTH, limit)
        if not isinstance(wanted, int) or isinstance(wanted, bool) or not MIN_MAX_LENGTH <= wanted <= limit:
            raise ProjectError(f"The maximum text length must be a whole number from {MIN_MAX_LENGTH} to "
                               f"{limit} tokens for {card.name}; got {wanted!r}.")
        folder = model_folder_for(card)
        return TextPreprocessing(str(folder), int(wanted), card.pooling, card.model_type,
                                 tokenizer_files_hash(folder))

    def describe_preprocessing(self, pre: TextPreprocessing) -> dict:
        """What model.json records (the tokenizer folder named relative to the run)."""
        return replace(pre, folder=TEXT_MODEL_DIR).to_dict()

    def save_preprocessing(self, pre: TextPreprocessing, folder: str | os.PathLike) -> dict:
        """Copy the tokenizer and config into ``folder/text_model``; model.json names it relatively."""
        dest = Path(folder) / TEXT_MODEL_DIR
        if Path(pre.folder).resolve() != dest.resolve():
            copy_tokenizer_files(pre.folder, dest)
        return self.describe_preprocessing(pre)

    def load_preprocessing(self, data: dict, folder: str | os.PathLike) -> TextPreprocessing:
        return TextPreprocessing.from_dict(data, folder)

    def train_dataset(self, pre: TextPreprocessing, samples: Sequence[Sample], *, augment: str, seed: int,
                      rounds: int = 1) -> TokenizedTexts:
        if str(augment).lower() != "none":
            raise ProjectError("Text projects have no augmentation; set augmentation to none.")
        return TokenizedTexts(pre, samples, rounds)

    def eval_dataset(self, pre: TextPreprocessing, samples: Sequence[Sample]) -> TokenizedTexts:
        return TokenizedTexts(pre, samples)

    def collate(self, items: list) -> Any:
        import torch

        return pad_batch([x for x, _ in items]), torch.tensor([int(y) for _, y in items], dtype=torch.long)

    def batch_order(self, dataset: Any, shuffled: Sequence[int] | None = None, *, batch_size: int = 0,
                    seed: int = 0) -> list[int] | None:
        """Extraction: shortest texts first. Training (``shuffled``): length buckets within
        random chunks (``text_batching.bucket_by_length``). So each batch pads only to similar
        lengths; None (not tokenised texts): keep the order."""
        from tlstudio.core.data.text_batching import bucket_by_length

        lengths: list[int] = []
        for part in getattr(dataset, "datasets", [dataset]):
            if not isinstance(part, TokenizedTexts):
                return None
            lengths += part.lengths()
        if shuffled is None:
            return sorted(range(len(lengths)), key=lengths.__getitem__)
        if batch_size < 1:
            return None
        return bucket_by_length(shuffled, lengths, batch_size, seed=seed)

    def input_reader(self, pre: TextPreprocessing) -> Callable[[Sample], Any]:
        return TextReader(pre)

    def folder_inputs(self, folder: str | os.PathLike, *, data: Any = None,
                      exclude: Sequence[str | os.PathLike] = ()):
        """Each .txt file below ``folder`` is one text; each CSV/TSV/JSON Lines file gives one per row
        (``data``: its text_column / encoding choice, as in ``scan``)."""
        from tlstudio.core.data.text_rows import folder_texts

        return folder_texts(folder, text_column=getattr(data, "text_column", None) or None,
                            encoding=getattr(data, "encoding", None) or None, exclude=exclude)

    def preview(self, sample: Sample, size: int = 256) -> str:
        return sample.text or ""

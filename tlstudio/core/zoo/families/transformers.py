"""Transformer text families (BERT, DistilBERT, RoBERTa, GPT-2, XLNet, ...): one adapter each, from
the model_type table in ``text_cards`` (family name and default pooling live there only).

A text card's ``library`` is "transformers" and its builder module is the
config's ``model_type``. The network handed to ``cut`` is already the base
encoder (``AutoModel`` leaves the language-model / pretraining head out); the
cut wraps it with the pooling that turns per-token states into one vector per
text (``zoo/text_encoder.py``'s ``TextEncoder``) and drops a pooler head the pooling
does not use. Blocks for "unfreeze the last N" are the transformer layers
(``TextEncoder.group_matcher``). Any other ``model_type`` gets the fallback
adapter: mean pooling. Imports no torch at module level.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.core.zoo.families import Cut, FamilyAdapter, default_family_name, register, register_fallback
from tlstudio.core.zoo.text_cards import FAMILY_BY_TYPE, family_for

if TYPE_CHECKING:
    from torch import nn

LIBRARY = "transformers"


def cut_transformer(model: "nn.Module", card, adapter: FamilyAdapter) -> Cut:
    from tlstudio.core.zoo.text_encoder import TextEncoder

    had_pooler = getattr(model, "pooler", None) is not None
    pooling = getattr(card, "pooling", None) or adapter.pooling
    encoder = TextEncoder(model, pooling)
    return Cut(base=encoder, feature_dim=encoder.dim, removed_classifier="base.pooler" if had_pooler else None)


def _register_families() -> None:
    """One adapter per family of the one model_type table (``text_cards.FAMILY_BY_TYPE``)."""
    by_family: dict[tuple[str, str], list[str]] = {}
    for model_type, (family, pooling, _side) in FAMILY_BY_TYPE.items():
        by_family.setdefault((family, pooling), []).append(model_type)
    for (family, pooling), model_types in by_family.items():
        register(FamilyAdapter(LIBRARY, tuple(model_types), family, cut_transformer, pooling=pooling))


_register_families()


def _fallback(module: str) -> FamilyAdapter:
    family, pooling, _ = family_for(module)
    return FamilyAdapter(LIBRARY, (module,), family or default_family_name(module), cut_transformer,
                         listed=False, pooling=pooling)


register_fallback(LIBRARY, _fallback)

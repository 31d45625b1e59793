"""Transformer text families (BERT, DistilBERT, RoBERTa, MiniLM, GPT-2, XLNet): one adapter each.

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

if TYPE_CHECKING:
    from torch import nn

LIBRARY = "transformers"


def cut_transformer(model: "nn.Module", card, adapter: FamilyAdapter) -> Cut:
    from tlstudio.core.zoo.text_encoder import TextEncoder

    had_pooler = getattr(model, "pooler", None) is not None
    pooling = getattr(card, "pooling", None) or adapter.pooling
    encoder = TextEncoder(model, pooling)
    return Cut(base=encoder, feature_dim=encoder.dim, removed_classifier="base.pooler" if had_pooler else None)


def _adapter(modules: tuple[str, ...], family: str, pooling: str) -> FamilyAdapter:
    return register(FamilyAdapter(LIBRARY, modules, family, cut_transformer, pooling=pooling))


BERT = _adapter(("bert",), "BERT", "first")
DISTILBERT = _adapter(("distilbert",), "DistilBERT", "first")
ROBERTA = _adapter(("roberta", "xlm-roberta"), "RoBERTa", "first")
GPT2 = _adapter(("gpt2",), "GPT-2", "last")
XLNET = _adapter(("xlnet",), "XLNet", "last")


def _fallback(module: str) -> FamilyAdapter:
    from tlstudio.core.zoo.text_cards import family_for

    family, pooling, _ = family_for(module)
    return FamilyAdapter(LIBRARY, (module,), family or default_family_name(module), cut_transformer,
                         listed=False, pooling=pooling)


register_fallback(LIBRARY, _fallback)

"""Building a transfer model: the pretrained network, cut at its features, plus a new head.

How a network is cut is its family adapter's business (``zoo/families/``);
this module only strings the steps together. A card is a vision ``ModelCard``
(torchvision/timm) or a text ``TextModelCard`` (transformers; a catalog name
or a Hugging Face model folder): both go through the same adapter registry.
"""
from __future__ import annotations

import os
from typing import Any

from torch import nn

from tlstudio.core.errors import ModelError
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.model.transfer import TransferModel
from tlstudio.core.zoo.cards import ModelCard, as_card
from tlstudio.core.zoo.families import Cut, adapter_for
from tlstudio.core.zoo.sources import WeightsSource
from tlstudio.core.zoo.text_cards import TextModelCard, text_card_for
from tlstudio.core.zoo.text_encoder import create_text_base
from tlstudio.core.zoo.weights import create_pretrained

AnyCard = ModelCard | TextModelCard


def card_for(name: str | os.PathLike, task: str = "image") -> AnyCard:
    """The card of a model name for a Project task: a vision card, or a text card / HF folder."""
    return {"image": lambda: as_card(str(name)), "text": lambda: text_card_for(name)}[task]()


def _as_any_card(card: AnyCard | str) -> AnyCard:
    if isinstance(card, (ModelCard, TextModelCard)):
        return card
    return as_card(card)


def cut_at_features(model: nn.Module, card: AnyCard | str) -> Cut:
    """Remove ``model``'s classifier in place; ``Cut.base(x)`` is then ``[N, feature_dim]``."""
    card = _as_any_card(card)
    adapter = adapter_for(card)
    if adapter is None:
        raise ModelError(f"TL Studio cannot adapt models from {card.library}.")
    return adapter.cut(model, card, adapter)


def create_transfer_model(card_or_name: AnyCard | str, head_spec: HeadSpec, num_classes: int,
                          weights: WeightsSource | str | None = "auto", *, config_folder: Any = None
                          ) -> TransferModel:
    """The pretrained base (weights loaded before the classifier is cut) plus a new head.

    A string names a vision model; pass a ``TextModelCard`` (``card_for(name, "text")``)
    for text. ``config_folder`` (text only) is where the architecture's config is read
    when it is not the card's own folder (a run's saved copy). Parameters keep
    requires_grad as built; freezing is model/layers.py's job.
    """
    card = _as_any_card(card_or_name)
    if isinstance(card, TextModelCard):
        full = create_text_base(card, weights, folder=config_folder)
    else:
        full = create_pretrained(card, weights)
    cut = cut_at_features(full, card)
    head = head_spec.build(cut.feature_dim, num_classes)
    model = TransferModel(cut.base, head, model_name=card.name, feature_dim=cut.feature_dim,
                          removed_classifier=cut.removed_classifier)
    return model.eval()

"""Building a transfer model: the pretrained network, cut at its features, plus a new head.

How a network is cut is its family adapter's business (``zoo/families/``);
this module only strings the steps together.
"""
from __future__ import annotations

from torch import nn

from tlstudio.core.errors import ModelError
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.model.transfer import TransferModel
from tlstudio.core.zoo.cards import ModelCard, as_card
from tlstudio.core.zoo.families import Cut, adapter_for
from tlstudio.core.zoo.sources import WeightsSource
from tlstudio.core.zoo.weights import create_pretrained


def cut_at_features(model: nn.Module, card: ModelCard | str) -> Cut:
    """Remove ``model``'s classifier in place; ``Cut.base(x)`` is then ``[N, feature_dim]``."""
    card = as_card(card)
    adapter = adapter_for(card)
    if adapter is None:
        raise ModelError(f"TL Studio cannot adapt models from {card.library}.")
    return adapter.cut(model, card, adapter)


def create_transfer_model(card_or_name: ModelCard | str, head_spec: HeadSpec, num_classes: int,
                          weights: WeightsSource | str | None = "auto") -> TransferModel:
    """The pretrained base (weights loaded before the classifier is cut) plus a new head.

    Parameters keep requires_grad as built; freezing is model/layers.py's job.
    """
    card = as_card(card_or_name)
    full = create_pretrained(card, weights)
    cut = cut_at_features(full, card)
    head = head_spec.build(cut.feature_dim, num_classes)
    model = TransferModel(cut.base, head, model_name=card.name, feature_dim=cut.feature_dim,
                          removed_classifier=cut.removed_classifier)
    return model.eval()

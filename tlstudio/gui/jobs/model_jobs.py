"""Worker jobs of the Model tab (they run torch): load a vision or text model with its head and layer
tree, build a head, list the catalogs with where each model's weights would come from."""
from __future__ import annotations

from dataclasses import dataclass

from tlstudio.core.zoo.sources import NONE, WeightsSource

SOURCE_TEXT = {"bundled": "bundled with the app", "cached": "in the local cache", "folder": "model folder",
               "download": "download (needs network)", "unavailable": "unavailable — import a file…"}


def build_head_job(head_dict: dict, feature_dim: int, num_classes: int):
    """Worker job: the head modules for a spec."""
    from tlstudio.core.model.head import HeadSpec

    return HeadSpec.from_dict(head_dict).build(feature_dim, num_classes)


@dataclass
class LoadedModel:
    card: object
    model: object
    tree: object
    input_size: int
    source: str
    note: str
    # The frozen set the model really got when the saved one did not fit it
    # (the project must record it, or training would look for missing layers).
    replaced_frozen: list[str] | None = None


def load_model_job(name: str, weights: WeightsSource, head_dict: dict, num_classes: int,
                   frozen: list[str], image_size: int | None, task: str = "image") -> LoadedModel:
    """Worker side: build the transfer model of the ``task`` modality, apply the frozen set, build its layer
    tree."""
    loader = {"image": load_image_model_job, "text": load_text_model_job}[task]
    return loader(name, weights, head_dict, num_classes, frozen, image_size)


def load_image_model_job(name: str, weights: WeightsSource, head_dict: dict, num_classes: int,
                         frozen: list[str], image_size: int | None) -> LoadedModel:
    """Worker side: a vision model (see ``load_model_job``)."""
    from tlstudio.core.model.head import HeadSpec
    from tlstudio.core.model.layers import apply_frozen_or_base, build_layer_tree
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.cards import get_card
    from tlstudio.core.zoo.weights import weight_source

    card = get_card(name)
    weights = WeightsSource.parse(weights)
    head = HeadSpec.from_dict(head_dict)
    model = create_transfer_model(card, head, num_classes, weights=weights)
    note, replaced = apply_frozen_or_base(model, frozen, "base")
    size = image_size or card.preprocessing.input_size
    if weights.is_file:
        source = weights.path
    elif weights.kind == NONE:
        source = "random initialisation"
    else:
        source = weight_source(card)
    return LoadedModel(card, model, build_layer_tree(model, size), size, source, note, replaced)


def load_text_model_job(name: str, weights: WeightsSource, head_dict: dict, num_classes: int,
                        frozen: list[str], image_size: int | None = None) -> LoadedModel:
    """Worker side for a text model: the encoder from its card or Hugging Face folder, cut and given
    a head through the same family registry as images; the layer tree from a dummy token batch.
    ``image_size`` is not used (a text model has a max length instead)."""
    from tlstudio.core.model.head import HeadSpec
    from tlstudio.core.model.layers import apply_frozen_or_base, build_layer_tree
    from tlstudio.core.model.build import card_for, create_transfer_model
    from tlstudio.core.zoo.text_sources import text_weight_source

    card = card_for(name, "text")
    model = create_transfer_model(card, HeadSpec.from_dict(head_dict), num_classes, weights=weights)
    note, replaced = apply_frozen_or_base(model, frozen, "encoder")
    source = "random initialisation" if WeightsSource.parse(weights).kind == NONE else text_weight_source(name)
    return LoadedModel(card, model, build_layer_tree(model, 0), card.max_length, source, note, replaced)


def catalog_job() -> dict[str, list[tuple[object, str]]]:
    """Both catalogs with where each model's weights would come from: {"image": ..., "text": ...}."""
    from tlstudio.core.zoo.cards import list_cards
    from tlstudio.core.zoo.text_cards import list_text_cards
    from tlstudio.core.zoo.text_sources import text_weight_source
    from tlstudio.core.zoo.weights import weight_source

    return {"image": [(card, weight_source(card)) for card in list_cards()],
            "text": [(card, text_weight_source(card.name)) for card in list_text_cards()]}

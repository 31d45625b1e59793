"""The timm families: timm models describe their own classifier and blocks.

``cut_pooled`` asks the model to drop its classifier (``reset_classifier(0)``),
so forward returns pooled features; block groups come from the model's own
``group_matcher``. The adapters here only give the families their names.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.core.zoo.families import (Cut, FamilyAdapter, default_family_name, register,
                                        register_fallback)

if TYPE_CHECKING:
    from torch import nn

    from tlstudio.core.zoo.cards import ModelCard

LIBRARY = "timm"


def cut_pooled(model: "nn.Module", card: "ModelCard", adapter: FamilyAdapter) -> Cut:
    """Remove a timm model's classifier; its forward then returns pooled features."""
    classifier = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    if isinstance(classifier, (list, tuple)):
        classifier = classifier[0]
    model.reset_classifier(0)
    # Some models (MobileNetV3) have a head conv after pooling: its width is the feature size.
    dim = getattr(model, "head_hidden_size", None) or model.num_features
    for fix in adapter.fixups:
        fix(model)
    return Cut(model, int(dim), classifier)


def _family(modules: tuple[str, ...], family: str) -> FamilyAdapter:
    return register(FamilyAdapter(library=LIBRARY, modules=modules, family=family, cut=cut_pooled))


EFFICIENTNET = _family(("efficientnet",), "EfficientNet")
MOBILENET = _family(("mobilenetv3",), "MobileNet")
CONVNEXT = _family(("convnext",), "ConvNeXt")
VIT = _family(("vision_transformer", "deit"), "ViT")
RESNET = _family(("resnet", "resnetv2"), "ResNet")
EFFICIENTVIT = _family(("efficientvit_mit",), "EfficientViT")
GHOSTNET = _family(("ghostnet",), "GhostNet")
VGG = _family(("vgg",), "VGG")
SWIN = _family(("swin_transformer",), "Swin")
DENSENET = _family(("densenet",), "DenseNet")
REGNET = _family(("regnet",), "RegNet")


def _fallback(module: str) -> FamilyAdapter:
    return FamilyAdapter(library=LIBRARY, modules=(module,), family=default_family_name(module), cut=cut_pooled)


register_fallback(LIBRARY, _fallback)

"""Architecture families: one registered adapter per family of networks.

Everything TL Studio knows about a particular architecture lives in its
adapter: the name users see, whether the catalog lists it, where its
classifier is and how to cut it off, the fix-ups the cut network needs, how
its layers group into blocks for "unfreeze the last N blocks", the builder
arguments its pretrained weights expect, and how it pools its features.

Adapters are keyed by library and builder module (``torchvision.models.resnet``
-> ``("torchvision", "resnet")``). The vision families register themselves in
``families/torchvision.py`` and ``families/timm.py``; a module nobody
registered gets its library's fallback adapter. This package imports no
torch: adapters are plain data plus functions that import torch when called.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from torch import nn

    from tlstudio.core.zoo.cards import ModelCard

# How a cut network turns its feature map into one vector per input.
POOLED_BY_NETWORK = "network"   # vision networks pool inside their own forward


@dataclass(frozen=True)
class Cut:
    """A network with its classifier removed: ``base(x)`` is ``[N, feature_dim]``."""

    base: "nn.Module"
    feature_dim: int
    removed_classifier: str | None


CutFunction = Callable[["nn.Module", "ModelCard", "FamilyAdapter"], Cut]


@dataclass(frozen=True, eq=False)  # identity: one registered object per family
class FamilyAdapter:
    library: str                                  # "torchvision" | "timm" | "transformers"
    modules: tuple[str, ...]                      # builder modules of this family ("resnet", ...)
    family: str                                   # the family name users see ("ResNet")
    cut: CutFunction                              # removes the classifier in place
    listed: bool = True                           # shown in the catalog
    classifier: str | None = None                 # qualified name of the classifier, where fixed
    fixups: tuple[Callable[["nn.Module"], None], ...] = ()   # run on the cut network
    block_matcher: Mapping[str, Any] | None = None  # timm-style coarse group matcher
    builder_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    pooling: str = POOLED_BY_NETWORK

    def keys(self) -> list[tuple[str, str]]:
        return [(self.library, module) for module in self.modules]


_REGISTRY: dict[tuple[str, str], FamilyAdapter] = {}
_FALLBACKS: dict[str, Callable[[str], FamilyAdapter]] = {}


def register(adapter: FamilyAdapter) -> FamilyAdapter:
    """Register ``adapter`` for each of its builder modules; a second claim on a module is an error."""
    for key in adapter.keys():
        if key in _REGISTRY and _REGISTRY[key] is not adapter:
            raise ValueError(f"{key[0]} module {key[1]!r} already has the {_REGISTRY[key].family} adapter")
    for key in adapter.keys():
        _REGISTRY[key] = adapter
    return adapter


def register_fallback(library: str, make: Callable[[str], FamilyAdapter]) -> None:
    """``make(module)`` builds the adapter for a module of ``library`` nobody registered."""
    _FALLBACKS[library] = make


def adapter_for_module(library: str, module: str) -> FamilyAdapter | None:
    """The adapter for a library's builder module; None for a library TL Studio cannot adapt."""
    adapter = _REGISTRY.get((library, module))
    if adapter is not None:
        return adapter
    make = _FALLBACKS.get(library)
    return make(module) if make is not None else None


def adapter_for(card: "ModelCard") -> FamilyAdapter | None:
    """The adapter of the card's family (its library's fallback for an unregistered module)."""
    return adapter_for_module(card.library, card.module_key)


def registered() -> list[FamilyAdapter]:
    """Every registered adapter once, in registration order."""
    return list(dict.fromkeys(_REGISTRY.values()))


def default_family_name(module: str) -> str:
    """A readable family name for an unregistered builder module ("efficientvit_mit" -> "Efficientvit Mit")."""
    return module.replace("_", " ").title()


# The vision and text families register themselves on import.
from tlstudio.core.zoo.families import timm as _timm_families  # noqa: E402,F401
from tlstudio.core.zoo.families import torchvision as _torchvision_families  # noqa: E402,F401
from tlstudio.core.zoo.families import transformers as _transformer_families  # noqa: E402,F401

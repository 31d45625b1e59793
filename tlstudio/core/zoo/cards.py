"""The model zoo: ModelCards over torchvision's and timm's registries.

A card knows a network's family, parameter count and preprocessing. The
preprocessing always comes from the weights' own config (torchvision's
``weights.transforms()``, timm's pretrained config, or the bundled weights'
config), never from constants here. Parameter counts come from torchvision's
weights metadata, or from building a timm model on the ``meta`` device (no
memory, no init cost), cached on disk.

Naming: torchvision models keep their plain name ("resnet18"); a timm model
keeps its plain name unless torchvision has a model of that name, in which
case the card is "timm/<name>". ``get_card`` accepts either spelling plus
"torchvision/<name>", and any timm name including a pretrained tag
("resnet50.a1_in1k").
"""
from __future__ import annotations

import difflib
import json
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tlstudio.core.atomic import write_json
from tlstudio.core.errors import ModelError
from tlstudio.core.paths import cache_dir
from tlstudio.core.zoo.bundled import BUNDLED
from tlstudio.core.zoo.families import adapter_for_module, default_family_name
from tlstudio.core.zoo.preprocessing import INTERPOLATIONS, Preprocessing

DEFAULT_MODEL = "tf_efficientnet_lite0"

# timm models shown in the catalog besides every listed torchvision model; any other works by name.
CURATED_TIMM = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2", "mobilenetv3_large_100",
                "convnext_nano", "vit_small_patch16_224", "resnet50d")


@dataclass(frozen=True)
class ModelCard:
    name: str                    # catalog key, e.g. "tf_efficientnet_lite0", "resnet18", "timm/convnext_tiny"
    library: str                 # "timm" | "torchvision"
    arch: str                    # builder name inside that library (timm names may carry a tag)
    family: str                  # "EfficientNet", "ResNet", ...
    params: int                  # parameters of the full original network
    preprocessing: Preprocessing
    description: str

    @property
    def module_key(self) -> str:
        """The library module that builds this network ('resnet', 'vision_transformer', ...)."""
        return _builder_module(self.library, self.arch)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "library": self.library, "arch": self.arch, "family": self.family,
                "params": self.params, "preprocessing": self.preprocessing.to_dict(),
                "description": self.description}


# -- library access (imports are deferred: torchvision costs seconds to import) ----

def _tv_models():
    import torchvision.models as tv_models

    return tv_models


@lru_cache(maxsize=1)
def _torchvision_names() -> frozenset[str]:
    tv = _tv_models()
    return frozenset(tv.list_models(module=tv))


@lru_cache(maxsize=None)
def _builder_module(library: str, arch: str) -> str:
    if library == "torchvision":
        return _tv_models().get_model_builder(arch).__module__.rsplit(".", 1)[-1]
    import timm.models

    base = arch.split(".", 1)[0]
    return timm.models.model_entrypoint(base).__module__.rsplit(".", 1)[-1]


def _family(library: str, arch: str) -> str:
    module = _builder_module(library, arch)
    adapter = adapter_for_module(library, module)
    return adapter.family if adapter is not None else default_family_name(module)


def _listed(library: str, arch: str) -> bool:
    adapter = adapter_for_module(library, _builder_module(library, arch))
    return adapter is not None and adapter.listed


# -- torchvision cards -------------------------------------------------------

def _torchvision_card(arch: str) -> ModelCard:
    tv = _tv_models()
    weights = tv.get_model_weights(arch).DEFAULT
    if weights is None:
        raise ModelError(f"torchvision has no pretrained weights (and so no preprocessing) for {arch}.")
    transform = weights.transforms()  # the weights' own preprocessing
    pre = Preprocessing(
        input_size=_first(transform.crop_size), resize_size=_first(transform.resize_size),
        mean=tuple(transform.mean), std=tuple(transform.std),
        interpolation=transform.interpolation.value)
    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    acc = f", ImageNet top-1 {metrics['acc@1']:.1f}%" if "acc@1" in metrics else ""
    family = _family("torchvision", arch)
    return ModelCard(name=arch, library="torchvision", arch=arch, family=family,
                     params=int(weights.meta["num_params"]), preprocessing=pre,
                     description=f"{family} from torchvision ({weights}{acc}).")


def _first(value) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)


# -- timm cards ----------------------------------------------------------------

_PARAMS_LOCK = threading.Lock()


def _params_cache_path():
    return cache_dir() / "model_params.json"


def _timm_params(arch: str) -> int:
    """Parameter count of a timm model, built on the meta device and cached on disk."""
    import timm
    import torch

    key = f"timm-{timm.__version__}:{arch.split('.', 1)[0]}"
    path = _params_cache_path()
    with _PARAMS_LOCK:
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cached = {}
        if isinstance(cached, dict) and isinstance(cached.get(key), int):
            return cached[key]
        try:
            with torch.device("meta"):
                model = timm.create_model(arch, pretrained=False)
        except Exception:  # a few models cannot be built on meta; build on CPU instead
            model = timm.create_model(arch, pretrained=False)
        count = sum(p.numel() for p in model.parameters())
        cached = cached if isinstance(cached, dict) else {}
        cached[key] = count
        try:
            write_json(path, cached)
        except OSError:
            pass  # the cache only saves time
        return count


def _timm_preprocessing(arch: str) -> Preprocessing:
    if arch in BUNDLED:  # the bundled weights carry their own config
        return BUNDLED[arch].preprocessing()
    import timm.models

    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        raise ModelError(f"timm has no pretrained configuration for {arch}; check the tag after the dot.")
    size = int(cfg.input_size[-1])
    crop_pct = cfg.crop_pct or 1.0
    interp = cfg.interpolation if cfg.interpolation in INTERPOLATIONS else "bilinear"
    return Preprocessing(input_size=size, resize_size=int(math.floor(size / crop_pct)),
                         mean=tuple(cfg.mean), std=tuple(cfg.std), interpolation=interp)


def _timm_card(arch: str) -> ModelCard:
    import timm.models

    cfg = timm.models.get_pretrained_cfg(arch)
    base = arch.split(".", 1)[0]
    name = f"timm/{arch}" if base in _torchvision_names() else arch
    family = _family("timm", arch)
    tag = f", weights {cfg.hf_hub_id or cfg.tag}" if cfg is not None and (cfg.hf_hub_id or cfg.tag) else ""
    bundled = ", ImageNet weights bundled with TL Studio" if arch in BUNDLED else ""
    return ModelCard(name=name, library="timm", arch=arch, family=family, params=_timm_params(arch),
                     preprocessing=_timm_preprocessing(arch),
                     description=f"{family} from timm ({arch}{tag}{bundled}).")


def _is_timm_model(name: str) -> bool:
    import timm

    return bool(name) and timm.is_model(name.split(".", 1)[0])


# -- public API ------------------------------------------------------------------

@lru_cache(maxsize=512)
def get_card(name: str) -> ModelCard:
    """The card for a catalog name, any torchvision classification model or any timm model."""
    if not isinstance(name, str) or not name.strip():
        raise ModelError("No model name was given.")
    key = name.strip()
    try:
        if key.startswith("timm/"):
            arch = key[len("timm/"):]
            if _is_timm_model(arch):
                return _timm_card(arch)
        elif key.startswith("torchvision/"):
            arch = key[len("torchvision/"):]
            if arch in _torchvision_names():
                return _torchvision_card(arch)
        elif key in _torchvision_names():
            return _torchvision_card(key)
        elif _is_timm_model(key):
            return _timm_card(key)
    except ModelError:
        raise
    except Exception as exc:  # a broken registry entry must not crash the caller
        raise ModelError(f"Could not describe model {key}: {exc}.") from exc
    close = difflib.get_close_matches(key, [c.name for c in list_cards()], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelError(f"Unknown model {key!r}: it is neither a torchvision nor a timm model.{hint}")


def as_card(card: ModelCard | str) -> ModelCard:
    """``card`` itself, or the card of a model name."""
    return card if isinstance(card, ModelCard) else get_card(card)


@lru_cache(maxsize=1)
def _all_cards() -> tuple[ModelCard, ...]:
    tv_cards = [get_card(arch) for arch in sorted(_torchvision_names())
                if _listed("torchvision", arch)]
    timm_cards = [get_card(arch) for arch in CURATED_TIMM]
    cards = timm_cards + tv_cards
    # The default first, then by family, then smallest first.
    return tuple(sorted(cards, key=lambda c: (c.name != DEFAULT_MODEL, c.family.lower(), c.params)))


def list_cards(search: str | None = None, family: str | None = None) -> list[ModelCard]:
    """The curated catalog; ``search`` words must all appear in a card's name or family."""
    cards = list(_all_cards())
    if family:
        cards = [c for c in cards if c.family.lower() == family.strip().lower()]
    if search:
        words = search.lower().split()
        cards = [c for c in cards if all(w in f"{c.name} {c.family}".lower() for w in words)]
    return cards


def families() -> list[str]:
    """The families present in the catalog, sorted."""
    return sorted({c.family for c in _all_cards()})

"""HeadSpec: a plain, JSON-serialisable description of the new classifier head.

The head sits on the base's pooled feature vector. Hidden layers are a list of
``HeadLayer``; the output ``Linear`` is always appended and sized to the number
of classes, so the user never has to keep it in step with the dataset.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tlstudio.core.errors import HeadSpecError

if TYPE_CHECKING:
    from torch import nn

LAYER_TYPES = ("linear", "activation", "dropout", "batchnorm", "layernorm")
# Activation name -> torch.nn class name; torch is imported only to build (it takes seconds).
ACTIVATIONS = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU"}
MAX_CLASSES = 100_000        # far above any real head; a larger count is a damaged or hostile file
MAX_WIDTH = 65_536           # a hidden layer wider than this is a typo, not a design


@dataclass
class HeadLayer:
    """One hidden layer. ``type`` is one of LAYER_TYPES.

    linear: ``width`` (int > 0); activation: ``activation`` (relu/gelu/silu);
    dropout: ``p`` in [0, 1); batchnorm / layernorm: no settings.
    """

    type: str
    width: int | None = None
    activation: str | None = None
    p: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "linear":
            out["width"] = self.width
        elif self.type == "activation":
            out["activation"] = self.activation
        elif self.type == "dropout":
            out["p"] = self.p
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HeadLayer":
        if not isinstance(data, dict) or "type" not in data:
            raise HeadSpecError(f"A head layer must be an object with a 'type'; got {data!r}.")
        return cls(type=str(data["type"]).lower(), width=data.get("width"),
                   activation=data.get("activation"), p=data.get("p"))

    def describe(self) -> str:
        if self.type == "linear":
            return f"Linear({self.width})"
        if self.type == "activation":
            return str(self.activation).upper() if self.activation else "Activation"
        if self.type == "dropout":
            return f"Dropout(p={self.p})"
        return {"batchnorm": "BatchNorm1d", "layernorm": "LayerNorm"}.get(self.type, self.type)


@dataclass
class HeadSpec:
    """Hidden layers plus the class count of the output layer."""

    layers: list[HeadLayer] = field(default_factory=list)
    num_classes: int = 2

    # -- validation -------------------------------------------------------
    def validate(self, num_classes: int | None = None) -> None:
        n = self.num_classes if num_classes is None else num_classes
        if not isinstance(n, int) or n < 2:
            raise HeadSpecError(f"A classifier needs at least 2 classes; this head has {n}.")
        if n > MAX_CLASSES:
            raise HeadSpecError(f"A head can have at most {MAX_CLASSES} classes; this one has {n}.")
        for i, layer in enumerate(self.layers, start=1):
            where = f"Head layer {i} ({layer.type})"
            if layer.type not in LAYER_TYPES:
                raise HeadSpecError(f"{where}: unknown layer type; use one of {', '.join(LAYER_TYPES)}.")
            if layer.type == "linear":
                if not isinstance(layer.width, int) or isinstance(layer.width, bool) or layer.width <= 0:
                    raise HeadSpecError(f"{where}: width must be a whole number above 0; got {layer.width!r}.")
                if layer.width > MAX_WIDTH:
                    raise HeadSpecError(f"{where}: width must be at most {MAX_WIDTH}; got {layer.width}.")
            elif layer.type == "activation":
                if str(layer.activation).lower() not in ACTIVATIONS:
                    raise HeadSpecError(f"{where}: activation must be one of {', '.join(ACTIVATIONS)}; got {layer.activation!r}.")
            elif layer.type == "dropout":
                if (not isinstance(layer.p, (int, float)) or isinstance(layer.p, bool)
                        or not (0.0 <= float(layer.p) < 1.0)):
                    raise HeadSpecError(f"{where}: dropout p must be in [0, 1); got {layer.p!r}.")

    # -- shapes and counts -----------------------------------------------
    def widths(self, in_features: int) -> list[int]:
        """Feature width after each hidden layer (the output layer excluded)."""
        width, out = in_features, []
        for layer in self.layers:
            if layer.type == "linear":
                width = int(layer.width)
            out.append(width)
        return out

    def param_count(self, in_features: int, num_classes: int | None = None) -> int:
        """Parameters of the head that ``build`` would make, without building it."""
        n = self.num_classes if num_classes is None else num_classes
        self.validate(n)
        width, total = in_features, 0
        for layer in self.layers:
            if layer.type == "linear":
                total += width * layer.width + layer.width
                width = layer.width
            elif layer.type in ("batchnorm", "layernorm"):
                total += 2 * width
        return total + width * n + n

    def build(self, in_features: int, num_classes: int | None = None) -> nn.Sequential:
        from torch import nn

        n = self.num_classes if num_classes is None else num_classes
        self.validate(n)
        modules: list[nn.Module] = []
        width = in_features
        for layer in self.layers:
            if layer.type == "linear":
                modules.append(nn.Linear(width, layer.width))
                width = layer.width
            elif layer.type == "activation":
                modules.append(getattr(nn, ACTIVATIONS[str(layer.activation).lower()])())
            elif layer.type == "dropout":
                modules.append(nn.Dropout(float(layer.p)))
            elif layer.type == "batchnorm":
                modules.append(nn.BatchNorm1d(width))
            elif layer.type == "layernorm":
                modules.append(nn.LayerNorm(width))
        modules.append(nn.Linear(width, n))
        return nn.Sequential(*modules)

    # -- serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"layers": [layer.to_dict() for layer in self.layers], "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HeadSpec":
        if not isinstance(data, dict):
            raise HeadSpecError("A head spec must be a JSON object.")
        layers = data.get("layers", [])
        if not isinstance(layers, list):
            raise HeadSpecError("A head spec's 'layers' must be a list.")
        n = data.get("num_classes", 2)
        if not isinstance(n, int) or isinstance(n, bool):
            raise HeadSpecError(f"A head spec's 'num_classes' must be a whole number; got {n!r}.")
        return cls(layers=[HeadLayer.from_dict(d) for d in layers], num_classes=n)

    @classmethod
    def default(cls, num_classes: int = 2) -> "HeadSpec":
        """A sensible first head: dropout then the output layer."""
        return cls(layers=[HeadLayer("dropout", p=0.2)], num_classes=num_classes)

    def describe(self) -> list[str]:
        return [layer.describe() for layer in self.layers] + [f"Linear({self.num_classes}) — output"]

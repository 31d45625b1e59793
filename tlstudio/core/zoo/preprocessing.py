"""What an image must look like before it enters a network: the ``Preprocessing`` of a model card.

It always comes from the weights' own config (torchvision's ``weights.transforms()``, timm's data
config, or the bundled weights' config); the code never invents mean/std or sizes. It lives next to
the cards that carry it; ``core.data.transforms`` turns it into image transforms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlstudio.core.errors import ModelError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    """What an image must look like before it enters the network."""

    input_size: int                       # square crop fed to the network
    resize_size: int                      # shorter side before the centre crop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"       # "bilinear" | "bicubic" | "nearest"

    def __post_init__(self) -> None:
        # Normalise types so equality and JSON round trips are exact.
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "resize_size", int(self.resize_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        interp = str(self.interpolation).lower()
        object.__setattr__(self, "interpolation", interp)
        if self.input_size <= 0 or self.resize_size < self.input_size:
            raise ModelError(
                f"Invalid preprocessing sizes: crop {self.input_size} px from a resize of {self.resize_size} px.")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ModelError("Preprocessing needs three mean values and three positive std values.")
        if interp not in INTERPOLATIONS:
            raise ModelError(f"Unknown interpolation {self.interpolation!r}; use one of {', '.join(INTERPOLATIONS)}.")

    @property
    def crop_ratio(self) -> float:
        return self.input_size / self.resize_size

    def with_input_size(self, px: int) -> "Preprocessing":
        """Same preprocessing at another crop size, keeping the crop ratio."""
        px = int(px)
        resize = max(px, int(round(px / self.crop_ratio)))
        return Preprocessing(px, resize, self.mean, self.std, self.interpolation)

    def to_dict(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "resize_size": self.resize_size,
                "mean": list(self.mean), "std": list(self.std), "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        try:
            return cls(input_size=data["input_size"], resize_size=data["resize_size"],
                       mean=tuple(data["mean"]), std=tuple(data["std"]),
                       interpolation=data.get("interpolation", "bilinear"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"Invalid preprocessing settings: {exc}.") from exc

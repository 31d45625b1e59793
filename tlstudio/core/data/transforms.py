"""Preprocessing settings and the image transforms built from them.

``Preprocessing`` always comes from the weights' own config (torchvision's
``weights.transforms()``, timm's data config, or the bundled weights' config);
the code never invents mean/std or sizes.
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


# ---------------------------------------------------------------------------
# Transforms and augmentation (owned by the dataset module's engineer) follow.

# torch and torchvision are imported inside the functions: they take seconds to
# import, and the catalog and the Project (loaded at GUI start-up) only need
# Preprocessing above.
from typing import TYPE_CHECKING, Callable  # noqa: E402 - the transforms section keeps its own imports

from tlstudio.core.errors import DatasetError  # noqa: E402

if TYPE_CHECKING:
    import torch
    from PIL import Image

AUGMENT_PRESETS = ("none", "light", "strong")


def _check_preset(preset: str) -> str:
    name = str(preset).lower()
    if name not in AUGMENT_PRESETS:
        raise DatasetError(f"Unknown augmentation preset {preset!r}; use one of {', '.join(AUGMENT_PRESETS)}.")
    return name


def _pil_steps(pre: Preprocessing, preset: str) -> list:
    """PIL-to-PIL steps that turn any RGB image into an input_size square view."""
    from torchvision import transforms as T
    from torchvision.transforms import InterpolationMode

    mode = InterpolationMode(pre.interpolation)
    preset = _check_preset(preset)
    if preset == "none":
        return [T.Resize(pre.resize_size, interpolation=mode), T.CenterCrop(pre.input_size)]
    if preset == "light":
        return [T.RandomResizedCrop(pre.input_size, scale=(0.7, 1.0), interpolation=mode),
                T.RandomHorizontalFlip()]
    # Rotate before cropping so the black corners the rotation leaves are mostly cropped away.
    return [T.RandomRotation(15, interpolation=InterpolationMode.BILINEAR),
            T.RandomResizedCrop(pre.input_size, scale=(0.35, 1.0), interpolation=mode),
            T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05)]


def _tensor_steps(pre: Preprocessing) -> list:
    from torchvision import transforms as T

    return [T.ToTensor(), T.Normalize(pre.mean, pre.std)]


def eval_transform(pre: Preprocessing) -> Callable[[Image.Image], torch.Tensor]:
    """Resize the shorter side, centre-crop, convert to a tensor and normalise."""
    from torchvision import transforms as T

    return T.Compose(_pil_steps(pre, "none") + _tensor_steps(pre))


def train_transform(pre: Preprocessing, preset: str) -> Callable[[Image.Image], torch.Tensor]:
    """The training-time transform for an augmentation preset ("none" is the eval transform)."""
    from torchvision import transforms as T

    return T.Compose(_pil_steps(pre, preset) + _tensor_steps(pre))


def augment_previews(image: Image.Image, pre: Preprocessing, preset: str, n: int = 6,
                     seed: int = 0) -> list[Image.Image]:
    """``n`` augmented RGB views of ``image`` at input_size, un-normalised, the same for the same seed."""
    import torch
    from torchvision import transforms as T

    steps = T.Compose(_pil_steps(pre, preset))
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    # A private RNG state: previews must neither depend on nor disturb the global one.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [steps(rgb) for _ in range(max(0, int(n)))]

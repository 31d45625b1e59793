"""The image transforms built from a card's ``Preprocessing`` (``core.zoo.preprocessing``), and augmentation.

torch and torchvision are imported inside the functions: they take seconds to import, and the
catalog and the Project (loaded at GUI start-up) only need the preset names.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from tlstudio.core.errors import DatasetError
from tlstudio.core.zoo.preprocessing import Preprocessing

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

"""Heat maps for image models, from a loaded run (``core/runs/folder.py`` ``load_model``).

The image goes through the run's own preprocessing (``predict.py`` reads it the
same way): resized, centre-cropped, normalised. The heat map has the size of
that crop, and ``ImageExplanation.view`` is the crop itself (before
normalisation), so an overlay shows exactly what the network saw.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from tlstudio.core.data.images import load_image_rgb
from tlstudio.core.data.transforms import eval_transform
from tlstudio.core.explain.gradcam import (ExplainError, Target, class_activation_map, feature_map,
                                           locate_target)
from tlstudio.core.explain.hooks import Tap, eval_with_grad
from tlstudio.core.explain.overlay import overlay_heatmap
from tlstudio.core.zoo.preprocessing import Preprocessing


@dataclass
class ImageExplanation:
    heatmap: np.ndarray          # [H, W] float32 in [0, 1], H x W = the network's input size
    view: Image.Image            # the centre crop the network saw (RGB, H x W)
    class_index: int             # the class explained
    class_name: str
    probability: float           # of the explained class
    predicted_index: int
    predicted_name: str
    predicted_probability: float
    method: str                  # "Grad-CAM" | "Grad-CAM on patch tokens"
    layer: str                   # the module whose map was used ("base.bn2")

    def overlay(self, alpha: float = 0.5) -> Image.Image:
        return overlay_heatmap(self.view, self.heatmap, alpha=alpha)


def model_view(image: Image.Image, pre: Preprocessing) -> Image.Image:
    """The resized, centre-cropped RGB image the network sees (no normalisation)."""
    from torchvision import transforms as T
    from torchvision.transforms import InterpolationMode

    steps = T.Compose([T.Resize(pre.resize_size, interpolation=InterpolationMode(pre.interpolation)),
                       T.CenterCrop(pre.input_size)])
    return steps(image.convert("RGB"))


def class_index_for(classes: list[str], wanted: int | str | None) -> int | None:
    """A class given by name or index -> its index; ExplainError for an unknown one."""
    if wanted is None:
        return None
    if isinstance(wanted, str):
        if wanted in classes:
            return classes.index(wanted)
        folded = [c.casefold() for c in classes]
        if wanted.casefold() in folded:
            return folded.index(wanted.casefold())
        shown = ", ".join(classes[:10]) + (" ..." if len(classes) > 10 else "")
        raise ExplainError(f"The model has no class '{wanted}'; its classes are {shown}.")
    index = int(wanted)
    if not 0 <= index < len(classes):
        raise ExplainError(f"Class number {index} is out of range (the model has {len(classes)} classes).")
    return index


def explain_tensor(model: torch.nn.Module, x: torch.Tensor, class_index: int | None = None
                   ) -> tuple[np.ndarray, torch.Tensor, int, Target]:
    """(heat map [H, W], softmax probabilities, explained class, target) for one input ``[1, 3, H, W]``."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ExplainError("Explain one image at a time.")
    with eval_with_grad(model):
        target = locate_target(model, x)
        module = model.get_submodule(target.name)
        with Tap(module, target.where) as tap:
            logits = model(x)
        probs = torch.softmax(logits.detach().float(), dim=1)[0]
        index = int(probs.argmax()) if class_index is None else int(class_index)
        if not 0 <= index < logits.shape[1]:
            raise ExplainError(f"Class number {index} is out of range (the model has {logits.shape[1]} classes).")
        grads = tap.gradient(logits[0, index])
        activations = feature_map(target, tap.tensor.detach())
        cam = class_activation_map(activations.float(), feature_map(target, grads).float(),
                                   (int(x.shape[2]), int(x.shape[3])))
    return cam.detach().cpu().numpy().astype(np.float32), probs.cpu(), index, target


def explain_image(loaded, image: str | os.PathLike | Image.Image, class_name: int | str | None = None
                  ) -> ImageExplanation:
    """Where ``loaded`` (a run's LoadedModel) looks in ``image`` (a path or a PIL image) for a class:
    the predicted one by default, or ``class_name`` (a name or index)."""
    if not isinstance(loaded.preprocessing, Preprocessing):     # no pixels in: a text model
        raise ExplainError("This model classifies texts; explain a text instead.")
    wanted = class_index_for(loaded.classes, class_name)
    picture = image if isinstance(image, Image.Image) else load_image_rgb(image)
    pre = loaded.preprocessing
    x = eval_transform(pre)(picture.convert("RGB")).unsqueeze(0).to(loaded.device)
    heatmap, probs, index, target = explain_tensor(loaded.model, x, wanted)
    predicted = int(probs.argmax())
    return ImageExplanation(heatmap=heatmap, view=model_view(picture, pre), class_index=index,
                            class_name=loaded.classes[index], probability=float(probs[index]),
                            predicted_index=predicted, predicted_name=loaded.classes[predicted],
                            predicted_probability=float(probs[predicted]), method=target.method,
                            layer=target.name)

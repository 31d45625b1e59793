"""Where the model looks: heat maps for image runs, word attributions for text runs.

- ``explain_image(loaded, image, class_name=None)`` -> ``ImageExplanation``: Grad-CAM on the
  last spatial feature map of convolutional bases (``gradcam.py``), Grad-CAM on the patch
  tokens entering the last block for ViT-style bases (``vit.py``).
- ``explain_text(loaded, text, class_name=None)`` -> ``TextExplanation``: gradient x input per
  token, summed per word (``text_attrib.py``); ``text_view.py`` turns it into HTML or a PNG.
- ``overlay_heatmap`` / ``colorize`` (``overlay.py``): the heat map blended over the image.

``loaded`` is ``core/runs/folder.py``'s ``LoadedModel``, so the CLI and the GUI share all of
it. Explanations never change the model: no parameter, BatchNorm statistic or ``.grad`` is
written, whatever the parameters' ``requires_grad`` (``hooks.py``).
"""
from tlstudio.core.explain.gradcam import ExplainError, Target, locate_target
from tlstudio.core.explain.images import ImageExplanation, explain_image, explain_tensor, model_view
from tlstudio.core.explain.overlay import colorize, overlay_heatmap, png_bytes
from tlstudio.core.explain.text_attrib import Piece, TextExplanation, explain_text
from tlstudio.core.explain.text_view import (explanation_html, explanation_image, explanation_page,
                                             save_text_explanation)

__all__ = ["ExplainError", "Target", "locate_target", "ImageExplanation", "explain_image", "explain_tensor",
           "model_view", "colorize", "overlay_heatmap", "png_bytes", "Piece", "TextExplanation", "explain_text",
           "explanation_html", "explanation_image", "explanation_page", "save_text_explanation"]

"""Colouring heat maps and blending them with images (numpy + Pillow, no matplotlib).

The colour map runs dark blue -> blue -> cyan -> yellow -> red: cold where the
model does not look, hot where it does, readable for the common colour-vision
deficiencies because brightness rises along with the hue.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

# (position, (r, g, b)) anchors of the colour map, interpolated linearly.
_ANCHORS = ((0.0, (20, 20, 110)), (0.25, (30, 90, 230)), (0.5, (40, 210, 210)),
            (0.75, (250, 220, 40)), (1.0, (220, 30, 20)))


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """[H, W] values in [0, 1] -> [H, W, 3] uint8 colours (values outside are clipped, NaN is 0)."""
    values = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0).clip(0.0, 1.0)
    where = [a[0] for a in _ANCHORS]
    channels = [np.interp(values, where, [a[1][c] for a in _ANCHORS]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def overlay_heatmap(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The heat map coloured and blended over ``image`` (resized to the image when sizes differ).

    Each pixel's colour weight is ``alpha`` scaled by its heat (a quarter of it where the heat is
    zero), so the picture stays visible where the model does not look.
    """
    rgb = image.convert("RGB")
    heat = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0).clip(0.0, 1.0)
    if heat.ndim != 2:
        raise ValueError(f"a heat map is 2-D, not {heat.ndim}-D")
    if heat.shape != (rgb.height, rgb.width):
        resized = Image.fromarray(heat).resize(rgb.size, Image.Resampling.BILINEAR)
        heat = np.asarray(resized, dtype=np.float32).clip(0.0, 1.0)
    alpha = float(min(max(alpha, 0.0), 1.0))
    weight = (alpha * (0.25 + 0.75 * heat))[..., None]
    base = np.asarray(rgb, dtype=np.float32)
    blended = base * (1.0 - weight) + colorize(heat).astype(np.float32) * weight
    return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8), "RGB")


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG (written with ``atomic.write_bytes``, so no half-written file)."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()

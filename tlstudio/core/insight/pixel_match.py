"""Are two decoded images the same picture? Pixel comparison at a common size, with a small-crop search.

``thumbnail`` shrinks (or enlarges) a whole image to ``SIZE`` x ``SIZE`` RGB
with an antialiasing filter, so a resized or re-encoded copy lands on almost
the same grid as its original. ``pixel_difference`` is the mean absolute
difference of two such thumbnails (0-255 scale). ``crop_difference`` also
tries cutting a small border (``CROP_FRACTIONS`` of the width and height, at
nine anchor positions) off either image before the comparison and keeps the
best match: a lightly cropped copy then lines up with its original again.

The thresholds that turn these numbers into verdicts live in ``duplicates``
(with the measurements behind them).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

SIZE = 16                       # the common grid (``image_duplicates.GRID``)
CROP_SOURCE = 64                # crops are cut from a preview this big (not the full photo)
CROP_FRACTIONS = (0.04, 0.08, 0.12)
_ANCHORS = [(ax, ay) for ay in (0.0, 0.5, 1.0) for ax in (0.0, 0.5, 1.0)]


def thumbnail(image: Image.Image, size: int = SIZE) -> np.ndarray:
    """uint8 [size, size, 3]: the whole image resampled (antialiased bilinear) to a square grid."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def pixel_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-255) of thumbnails ``a`` [..., S, S, 3] and ``b`` (broadcast)."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=(-3, -2, -1))


def _crops(image: Image.Image, size: int) -> np.ndarray:
    """Thumbnails of ``image`` with a small border cut off: [len(CROP_FRACTIONS) * 9, S, S, 3]."""
    source = image.convert("RGB")
    if max(source.size) > CROP_SOURCE:
        source = source.copy()
        source.thumbnail((CROP_SOURCE, CROP_SOURCE), Image.Resampling.BILINEAR)
    w, h = source.size
    out = []
    for f in CROP_FRACTIONS:
        cw, ch = max(1, round(w * (1 - f))), max(1, round(h * (1 - f)))
        for ax, ay in _ANCHORS:
            x, y = round((w - cw) * ax), round((h - ch) * ay)
            out.append(thumbnail(source.crop((x, y, x + cw, y + ch)), size))
    return np.stack(out)


def crop_difference(a: Image.Image, b: Image.Image, size: int = SIZE) -> float:
    """The smallest pixel difference between one image and a slightly cropped other (either way round)."""
    ta, tb = thumbnail(a, size), thumbnail(b, size)
    return float(min(pixel_difference(ta, tb), pixel_difference(_crops(a, size), tb[None]).min(),
                     pixel_difference(_crops(b, size), ta[None]).min()))

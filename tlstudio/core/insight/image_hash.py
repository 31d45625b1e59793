"""Perceptual image hashes (64 bits) that survive re-encoding, resizing and small edits.

``dhash``: the sign of horizontal brightness steps on a 9x8 grey thumbnail.
``phash``: the signs (against the median) of the 8x8 lowest frequencies of a
32x32 grey thumbnail's discrete cosine transform. Two images are near
duplicates when both hashes differ in few bits (``hamming``).
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def _grey(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def dhash(image: Image.Image) -> np.ndarray:
    """64 booleans: is each pixel of a 9x8 thumbnail brighter than its right neighbour."""
    g = _grey(image, (9, 8))
    return (g[:, :-1] > g[:, 1:]).reshape(-1)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(image: Image.Image) -> np.ndarray:
    """64 booleans: the 8x8 lowest DCT frequencies (the constant term included) above their median."""
    g = _grey(image, (32, 32))
    low = (_DCT32 @ g @ _DCT32.T)[:8, :8].reshape(-1)
    return low > np.median(low)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences between every row of ``a`` [n, bits] and of ``b`` [m, bits] (booleans): [n, m]."""
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    same = fa @ fb.T + (1 - fa) @ (1 - fb).T
    return np.rint(a.shape[1] - same).astype(np.int32)

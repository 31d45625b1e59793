"""Image duplicates: fingerprints of every image, candidate pairs, and the pixel check that verifies them.

``image_fingerprints`` decodes each image once: sha256 of its bytes, its
dHash/pHash bits (``image_hash``), its size, and a ``GRID`` x ``GRID`` RGB
thumbnail (``pixel_match.thumbnail``; 768 bytes an image, so 50 000 images
take 38 MB). ``hash_candidates`` lists, per image, the few others whose hashes
are close (blocks of rows, so memory stays O(block x n)). ``verify_image_pair``
decides whether a candidate pair is the same picture and why.

A pair is the same picture when the mean absolute difference ``d`` of the two
thumbnails (0-255) is at most ``min(SAME_MAD, SAME_REL * contrast)``, where
``contrast`` is the smaller standard deviation of the two thumbnails' pixels
(a flat picture needs a smaller difference). The grid is ``GRID`` px, or the
smaller image's shorter side when that is less (a 14 px copy is compared with
its original at 14 px, not enlarged). Measured at 16 px on real images
(the sets of ``benchmarks/bench_duplicates.py``; ``tests/planted_copies.py`` makes the copies):

d at 16 px (0-255), range; d / contrast   28 px Fashion-MNIST (1 000)   64 px photo tiles (653)
JPEG q85 re-encode, same size            0.47-1.32; <= 0.038           0.02-1.13
JPEG q85 at twice the size               0.50-2.65; <= 0.043           0.05-0.48
half size (PNG)                          1.54-7.72; >= 0.030           0.11-2.00
nearest other sample of the same class   >= 4.42;   >= 0.061           >= 1.29; >= 0.063

So ``SAME_MAD = 3.0`` and ``SAME_REL = 0.05``: every measured JPEG re-encode
of a 28 px image, at the same size or twice it, is under both limits, and no
two different images of one class are under both (the relative limit keeps
the smooth photo tiles apart). A half-size copy of a 28 px image (14 px) has
lost too much to be told from a look-alike and is mostly missed. Plain tiles
(standard deviation under 8 of 255: black sky, white background) are left out
of the photo figures: two of them are the same pixels, and are reported so.

A small crop shifts every pixel (5 % off one corner: ``d`` 3.7-20 on 28 px
images), so pairs that fail the plain check and are close in feature space
get a crop search (``pixel_match.crop_difference``: 4-12 % borders at nine
anchors, either way round) under the same limits; the nearest other sample
of a class then reaches 6.9 at the least (Fashion-MNIST). Pictures with a
contrast under ``CROP_MIN_CONTRAST`` get none: a shifted crop of a smooth sky
tile matched the next tile of the same sky (0.9 at a contrast of 19).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from tlstudio.core.data.images import load_image_rgb
from tlstudio.core.insight.image_hash import dhash, hamming, phash
from tlstudio.core.insight.pixel_match import SIZE, crop_difference, pixel_difference, thumbnail
from tlstudio.core.progress import JobState, check, set_progress

GRID = SIZE
SAME_MAD = 3.0
SAME_REL = 0.05
CROP_MIN_CONTRAST = 24.0        # smoother pictures get no crop search (a shifted crop of a gradient matches)
HASH_CANDIDATE_BITS = 12        # dHash and pHash each within this many of 64 bits: worth a pixel check
CANDIDATES_PER_IMAGE = 4
HASH_BLOCK = 256
PREVIEW_PX = 128

SAME_BYTES, REENCODED, RESIZED, CROPPED = ("same bytes", "same pixels after re-encoding", "resized copy",
                                           "cropped copy")


@dataclass
class ImageFingerprints:
    digests: list[str]          # sha256 of the bytes ("unreadable:i" for a file that cannot be read)
    d_bits: np.ndarray          # bool [n, 64]
    p_bits: np.ndarray          # bool [n, 64]
    sizes: np.ndarray           # int [n, 2] (width, height); 0 when unreadable
    thumbs: np.ndarray          # uint8 [n, GRID, GRID, 3]
    paths: list[str]

    @property
    def contrast(self) -> np.ndarray:
        return self.thumbs.reshape(len(self.thumbs), -1).std(1)


def image_fingerprints(samples, job: JobState | None = None) -> ImageFingerprints:
    """Decode every image once (see the module docstring); an unreadable file gets values no other shares."""
    n = len(samples)
    digests, sizes = [], np.zeros((n, 2), dtype=np.int32)
    d_bits, p_bits = np.zeros((n, 64), dtype=bool), np.zeros((n, 64), dtype=bool)
    thumbs = np.zeros((n, GRID, GRID, 3), dtype=np.uint8)
    for i, s in enumerate(samples):
        if i % 64 == 0:
            check(job)
            set_progress(job, i, n)
        try:
            with open(s.path, "rb") as fh:
                digests.append(hashlib.sha256(fh.read()).hexdigest())
            image = load_image_rgb(s.path)
            sizes[i] = image.size
            thumbs[i] = thumbnail(image, GRID)
            image.thumbnail((PREVIEW_PX, PREVIEW_PX))
            d_bits[i], p_bits[i] = dhash(image), phash(image)
        except (OSError, ValueError):
            digests.append(f"unreadable:{i}")
            rng = np.random.default_rng(i)       # bits no other image shares, in practice
            d_bits[i], p_bits[i] = rng.random(64) > 0.5, rng.random(64) > 0.5
            thumbs[i] = rng.integers(0, 256, thumbs[i].shape, dtype=np.uint8)
    set_progress(job, n, n)
    return ImageFingerprints(digests, d_bits, p_bits, sizes, thumbs, [s.path for s in samples])


def hash_candidates(fp: ImageFingerprints, job: JobState | None = None) -> set[tuple[int, int]]:
    """Pairs (i < j) whose dHash and pHash both differ in at most ``HASH_CANDIDATE_BITS`` bits, the
    ``CANDIDATES_PER_IMAGE`` closest per image."""
    n, out = len(fp.d_bits), set()
    for start in range(0, n, HASH_BLOCK):
        check(job)
        stop = min(n, start + HASH_BLOCK)
        dd, pp = hamming(fp.d_bits[start:stop], fp.d_bits), hamming(fp.p_bits[start:stop], fp.p_bits)
        close = (dd <= HASH_CANDIDATE_BITS) & (pp <= HASH_CANDIDATE_BITS)
        close[np.arange(stop - start), np.arange(start, stop)] = False
        total = np.where(close, dd + pp, 1 << 20)
        for r in np.nonzero(close.any(1))[0].tolist():
            cols = np.argsort(total[r], kind="stable")[:CANDIDATES_PER_IMAGE]
            out.update((min(start + r, c), max(start + r, c)) for c in cols.tolist() if close[r, c])
    return out


def _limit(a: np.ndarray, b: np.ndarray) -> float:
    contrast = min(float(a.std()), float(b.std()))
    return min(SAME_MAD, SAME_REL * contrast)


def verify_image_pair(fp: ImageFingerprints, i: int, j: int, *, try_crops: bool) -> tuple[str, float] | None:
    """(reason, mean pixel difference) when images ``i`` and ``j`` are the same picture, else None."""
    if fp.digests[i] == fp.digests[j]:
        return SAME_BYTES, 0.0
    if fp.digests[i].startswith("unreadable") or fp.digests[j].startswith("unreadable"):
        return None
    grid = int(min(GRID, fp.sizes[i].min(), fp.sizes[j].min()))
    images: list[Image.Image] = []
    if grid < GRID:
        images = [load_image_rgb(fp.paths[i]), load_image_rgb(fp.paths[j])]
        a, b = thumbnail(images[0], grid), thumbnail(images[1], grid)
    else:
        a, b = fp.thumbs[i], fp.thumbs[j]
    d = float(pixel_difference(a, b))
    if d <= _limit(a, b):
        same_size = tuple(fp.sizes[i]) == tuple(fp.sizes[j])
        return (REENCODED if same_size else RESIZED), d
    if not try_crops or min(float(a.std()), float(b.std())) < CROP_MIN_CONTRAST:
        return None
    try:
        images = images or [load_image_rgb(fp.paths[i]), load_image_rgb(fp.paths[j])]
    except (OSError, ValueError):
        return None
    d = crop_difference(images[0], images[1], grid)
    return (CROPPED, d) if d <= _limit(a, b) else None


def verify_pairs(fp: ImageFingerprints, pairs: Sequence[tuple[int, int]], crop_ok: Callable[[int, int], bool],
                 job: JobState | None = None) -> list[tuple[int, int, str, float]]:
    """The verified pairs among ``pairs``: (i, j, reason, mean pixel difference)."""
    out = []
    for k, (i, j) in enumerate(pairs):
        if k % 256 == 0:
            check(job)
            set_progress(job, k, len(pairs))
        found = verify_image_pair(fp, i, j, try_crops=crop_ok(i, j))
        if found is not None:
            out.append((i, j, *found))
    return out

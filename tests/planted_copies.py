"""Real image sets and the copies a user's data holds by accident, for the duplicate tests and benchmarks.

Image sets (real pixels only): ``fashion_images`` -- 28 px Fashion-MNIST
(Debian's ``dataset-fashion-mnist`` when installed, else the bundled demo
subset); ``photo_tiles`` -- 64 px tiles cut side by side out of scikit-image's
bundled photographs (each photograph is a class: its tiles are different
samples of one scene) plus its 25 px faces. ``PERTURB`` makes the copies:
a JPEG re-encode (quality 85), the same at twice the size, a half-size
resize, and a small corner crop (5 %).
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

FASHION = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo_data"
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "horse", "moon", "clock", "grass",
          "gravel", "brick", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel")
TILE = 64


def _jpeg(image: Image.Image, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    w, h = image.size
    return image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)


def _crop(image: Image.Image, fraction: float = 0.05) -> Image.Image:
    w, h = image.size
    return image.crop((round(w * fraction), round(h * fraction), w, h))


PERTURB = {
    "jpeg": _jpeg,
    "jpeg-2x": lambda im: _jpeg(_scaled(im, 2.0)),
    "half-size": lambda im: _scaled(im, 0.5),
    "crop-5%": _crop,
}
# Saved as (file suffix, PIL format): a JPEG copy is stored as JPEG, the others losslessly.
SAVE_AS = {"jpeg": (".jpg", "JPEG"), "jpeg-2x": (".jpg", "JPEG"), "half-size": (".png", "PNG"),
           "crop-5%": (".png", "PNG")}


def save_copy(image: Image.Image, kind: str, dest_stem: Path) -> Path:
    """``image`` perturbed by ``kind`` and saved next to ``dest_stem`` with the kind's format."""
    suffix, fmt = SAVE_AS[kind]
    out = dest_stem.with_suffix(suffix)
    copy = PERTURB[kind](image).convert("RGB")
    copy.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out


def fashion_images(n: int, seed: int = 0, split: str = "t10k") -> tuple[list[Image.Image], np.ndarray]:
    """``n`` random Fashion-MNIST images (RGB, 28 px) and their classes (0-9)."""
    images, labels = FASHION / f"{split}-images-idx3-ubyte.gz", FASHION / f"{split}-labels-idx1-ubyte.gz"
    if images.is_file() and labels.is_file():
        x = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16).reshape(-1, 28, 28)
        y = np.frombuffer(gzip.open(labels).read(), np.uint8, offset=8).astype(np.int64)
        idx = np.random.default_rng(seed).permutation(len(y))[:n]
        return [Image.fromarray(x[i]).convert("RGB") for i in idx], y[idx]
    files = sorted(DEMO.glob("*/*.png"))
    classes = sorted({f.parent.name for f in files})
    idx = np.random.default_rng(seed).permutation(len(files))[:n]
    return ([Image.open(files[i]).convert("RGB") for i in idx],
            np.array([classes.index(files[i].parent.name) for i in idx], dtype=np.int64))


def photo_tiles(limit_per_photo: int = 40) -> tuple[list[Image.Image], np.ndarray]:
    """Side-by-side 64 px tiles of scikit-image's photographs (class = photograph), then its 200 faces /
    non-faces at 25 px (classes ``len(PHOTOS)`` and ``len(PHOTOS) + 1``)."""
    from skimage import data

    out, labels = [], []
    for c, name in enumerate(PHOTOS):
        pixels = np.asarray(getattr(data, name)())
        image = Image.fromarray(pixels[..., :3] if pixels.ndim == 3 else pixels).convert("RGB")
        w, h = image.size
        boxes = [(x, y, x + TILE, y + TILE) for y in range(0, h - TILE + 1, TILE) for x in range(0, w - TILE + 1, TILE)]
        for box in boxes[:limit_per_photo]:
            out.append(image.crop(box))
            labels.append(c)
    faces = data.lfw_subset()
    for i, face in enumerate(faces):
        out.append(Image.fromarray((face * 255).round().astype(np.uint8)).convert("RGB"))
        labels.append(len(PHOTOS) + (i >= 100))
    return out, np.array(labels, dtype=np.int64)


def write_class_folders(root: Path, images: list[Image.Image], labels: np.ndarray, names: list[str],
                        planted: dict[int, str]) -> list[tuple[str, str]]:
    """Images as PNG class folders (``NAME/00042.png``) plus a copy of image ``i`` made by ``planted[i]``
    (``NAME/copy-00042.jpg``); returns [(copy key, original key)]."""
    pairs = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:05d}.png")
        if i in planted:
            copy = save_copy(image, planted[i], folder / f"copy-{i:05d}")
            pairs.append((f"{folder.name}/{copy.name}", f"{folder.name}/{i:05d}.png"))
    return pairs

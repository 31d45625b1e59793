"""Regenerate resources/demo_data/ from Debian's Fashion-MNIST package.

Six visually distinct classes, 50 images each, drawn with a fixed seed from
the Fashion-MNIST *test* set (t10k) and written as 28x28 greyscale PNGs:
``demo_data/<class>/<NNN>.png``. The loader converts them to RGB and resizes.

Usage: python resources/make_demo_data.py [--source DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import gzip
import io
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tlstudio.core.atomic import write_bytes, write_text  # noqa: E402

SOURCE = Path("/usr/share/datasets/fashion-mnist")
OUT = Path(__file__).resolve().parent / "demo_data"
# Fashion-MNIST label -> folder name; chosen so the classes are easy to tell apart.
CLASSES = {0: "t-shirt_top", 1: "trouser", 3: "dress", 7: "sneaker", 8: "bag", 9: "ankle_boot"}
PER_CLASS = 50
SEED = 2024

LICENSE_TEXT = """\
The images in this folder are a small subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist) by Zalando Research,
taken from its test set (t10k) as packaged by Debian (dataset-fashion-mnist,
packaging 2019-2020 Mo Zhou, also under the MIT/Expat licence).
They were regenerated with resources/make_demo_data.py.

The MIT License (MIT)
Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed): big-endian dims after a magic number."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    images = read_idx(args.source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(args.source / "t10k-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(SEED)
    for label, name in CLASSES.items():
        folder = args.out / name
        if folder.exists():
            shutil.rmtree(folder)          # drop stale files from an earlier run
        chosen = np.sort(rng.choice(np.flatnonzero(labels == label), size=PER_CLASS, replace=False))
        for i, idx in enumerate(chosen):
            write_bytes(folder / f"{i:03d}.png", png_bytes(images[idx]))
    write_text(args.out / "LICENSE-fashion-mnist.txt", LICENSE_TEXT)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"Wrote {len(CLASSES) * PER_CLASS} images in {len(CLASSES)} classes to {args.out} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

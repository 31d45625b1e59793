"""Real multi-label data sets built from real single-label data, for tests and benchmarks.

Images: two real Fashion-MNIST pictures side by side (each on its own half), labelled with both
classes; some samples carry one picture (the other half blank) and one label, so label sets vary
in size. Texts: two real WordNet definitions of different topics joined into one text, labelled
with both topics; some samples are one definition with one label. Labels are written as
``a;b`` (CSV) or a JSON list (JSON Lines), the formats the scanner reads.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from tlstudio.core.paths import demo_data_dir, resources_dir


def _pairs(items: list[tuple[object, str]], n: int, single_share: float, seed: int):
    """``n`` samples: (parts, labels) with one part (``single_share`` of them) or two of different labels."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a = rng.choice(items)
        if rng.random() < single_share:
            out.append(([a[0]], [a[1]]))
            continue
        b = rng.choice([x for x in items if x[1] != a[1]])
        out.append(([a[0], b[0]], sorted({a[1], b[1]})))
    return out


def compose_images(items: list[tuple[object, str]], dest: Path, n: int, *, single_share: float = 0.25,
                   seed: int = 0, manifest: str = "labels.csv") -> Path:
    """A manifest CSV (``path,labels``; paths relative to it) of ``n`` composed 56x28 images from
    ``items`` = [(PIL image or path, class name)]."""
    from PIL import Image

    (dest / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (parts, labels) in enumerate(_pairs(items, n, single_share, seed)):
        canvas = Image.new("L", (56, 28))
        slots = [0, 28] if len(parts) == 2 else [random.Random(seed + k).choice([0, 28])]
        for part, x in zip(parts, slots):
            image = part if isinstance(part, Image.Image) else Image.open(part)
            canvas.paste(image.convert("L").resize((28, 28)), (x, 0))
        name = f"images/{k:04d}.png"
        canvas.save(dest / name)
        rows.append((name, ";".join(labels)))
    path = dest / manifest
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "labels"])
        writer.writerows(rows)
    return path


def demo_image_items(per_class: int = 50) -> list[tuple[Path, str]]:
    src = demo_data_dir()
    return [(f, d.name) for d in sorted(p for p in src.iterdir() if p.is_dir())
            for f in sorted(d.glob("*.png"))[:per_class]]


def demo_text_items() -> list[tuple[str, str]]:
    source = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"
    with open(source, encoding="utf-8") as fh:
        return [(row["text"], row["label"]) for row in csv.DictReader(fh)]


def compose_texts(items: list[tuple[str, str]], dest: Path, n: int, *, single_share: float = 0.25,
                  seed: int = 0, jsonl: bool = False) -> Path:
    """A CSV (``text,labels``) or JSON Lines file (labels as a JSON list) of ``n`` joined texts."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = [("; ".join(parts), labels) for parts, labels in _pairs(items, n, single_share, seed)]
    seen, unique = set(), []
    for text, labels in rows:           # the scanner leaves out repeated texts; do not make any
        if text not in seen:
            seen.add(text)
            unique.append((text, labels))
    if jsonl:
        path = dest / "texts.jsonl"
        path.write_text("".join(json.dumps({"text": t, "labels": ls}) + "\n" for t, ls in unique), encoding="utf-8")
        return path
    path = dest / "texts.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "labels"])
        writer.writerows((t, "|".join(ls)) for t, ls in unique)
    return path

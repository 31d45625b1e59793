"""Duplicate-finding benchmark: planted copies found, and groups that hold no planted copy, before -> after.

Three real sets get planted copies under new names (``tests/planted_copies.py``):

- 1 000 Fashion-MNIST test images (28 px) + 12 copies: 3 JPEG re-encodes
  (quality 85), 3 JPEG copies at twice the size, 3 half-size, 3 cropped 5 %;
- scikit-image's photographs cut into 64 px tiles (plain tiles left out) and its
  200 small faces + the same 12 kinds of copies;
- the 360 WordNet definitions of the text demo + 12 copies: 3 in other case and
  punctuation, 3 with a word inserted, 3 with the last word dropped, 3 with a
  word misspelt.

The features are the bundled models' (images at 64 px), extracted once per set;
"before" is the duplicate finder of commit ``BEFORE`` (read with ``git show``),
"after" this checkout's, both on the same features. A planted pair is found
when one reported duplicate group holds both; a false group holds no planted
pair. "After" counts only the verified tier (the "similar" tier is printed
apart). Run: ``python benchmarks/bench_duplicates.py``.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BEFORE = "0a0c84f"
KINDS = ("jpeg", "jpeg-2x", "half-size", "crop-5%")
TEXT = ROOT / "resources" / "demo_text_data" / "wordnet_definitions.csv"


def old_finder():
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:tlstudio/core/insight/duplicates.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("duplicates_before")
    sys.modules[module.__name__] = module            # dataclasses look their module up
    exec(compile(source, "duplicates_before.py", "exec"), module.__dict__)
    return module.find_duplicates


def planted_images(root: Path, name: str) -> list[tuple[str, str]]:
    from tests.planted_copies import fashion_images, photo_tiles, write_class_folders
    from tlstudio.core.insight.pixel_match import thumbnail

    images, labels = fashion_images(1000) if name == "fashion" else photo_tiles()
    if name == "photos":
        keep = [i for i, im in enumerate(images) if thumbnail(im).std() >= 8]
        images, labels = [images[i] for i in keep], labels[keep]
    rng = np.random.default_rng(1)
    planted = {int(i): KINDS[k % len(KINDS)] for k, i in enumerate(rng.choice(len(images), 12, replace=False))}
    return write_class_folders(root, images, labels, [f"class{c:02d}" for c in range(int(labels.max()) + 1)],
                               planted)


def planted_texts(path: Path) -> list[tuple[str, str]]:
    rows = list(csv.reader(TEXT.open(encoding="utf-8")))
    header, body = rows[0], rows[1:]
    rng = np.random.default_rng(2)
    pairs = []
    for k, i in enumerate(rng.choice(len(body), 12, replace=False).tolist()):
        words = body[i][0].split()
        spot = int(rng.integers(len(words)))
        text = [body[i][0].upper() + "!",
                " ".join(words[:spot] + ["very"] + words[spot:]),
                " ".join(words[:-1]),
                " ".join(words[:spot] + [words[spot][::-1]] + words[spot + 1:])][k % 4]
        body.append([text, body[i][1]])
        pairs.append((f"{path.name}:{len(body) + 1}", f"{path.name}:{i + 2}"))
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header] + body)
    return pairs


def score(groups, keys, pairs) -> tuple[int, int]:
    sets = [set(keys[i] for i in g.members) for g in groups]
    found = sum(any({c, o} <= s for s in sets) for c, o in pairs)
    false = sum(not any({c, o} <= s for c, o in pairs) for s in sets)
    return found, false


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-dups-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(work / "cache")
    from tlstudio.core.insight.duplicates import find_duplicates
    from tlstudio.core.insight.features import collect_features
    from tlstudio.core.project import Project

    before = old_finder()
    for name in ("fashion", "photos", "text"):
        if name == "text":
            (work / "text").mkdir()
            path = work / "text" / "topics.csv"
            pairs = planted_texts(path)
            project = Project(task="text")
            project.model.name = "all-MiniLM-L6-v2"
        else:
            path = work / name
            pairs = planted_images(path, name)
            project = Project()
            project.model.image_size = 64
        project.data.path = str(path)
        project.data.val_fraction = project.data.test_fraction = 0.0
        data = collect_features(project, device="cpu")
        args = (data.samples, data.labels, data.splits, data.features)
        from tlstudio.core.data.modality import modality_for
        t0 = time.perf_counter()
        old = before(*args, task=data.task, modality=modality_for(data.task))
        t1 = time.perf_counter()
        new = find_duplicates(*args, task=data.task)
        t2 = time.perf_counter()
        verified = [g for g in new if g.tier == "duplicate"]
        (f0, x0), (f1, x1) = score(old, data.keys, pairs), score(verified, data.keys, pairs)
        print(f"{name}: {len(data.keys)} samples, {len(pairs)} planted copies -- found {f0} -> {f1}, groups without "
              f"a planted pair {x0} -> {x1} (groups {len(old)} -> {len(verified)}; similar tier "
              f"{len(new) - len(verified)}); {t1 - t0:.1f} s -> {t2 - t1:.1f} s", flush=True)
        missed = [c for c, o in pairs if not any({c, o} <= set(data.keys[i] for i in g.members) for g in verified)]
        print(f"  missed after: {missed}; reasons: {sorted({g.describe().split(',')[0] for g in verified})}")
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), {time.strftime('%H:%M')}")


if __name__ == "__main__":
    main()

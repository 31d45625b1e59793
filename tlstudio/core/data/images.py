"""Image datasets: scanning, validating and decoding image files.

A dataset is either a folder with one sub-folder per class (nested folders
allowed; the first level names the class) or a CSV of ``path,label`` rows.
Images in the folder named ``unlabeled`` (``DataSettings.unlabeled_folder``;
"" for none) beside the class folders, and CSV rows with an empty label cell,
are the unlabeled pool (``DatasetIndex.pool``), validated like the rest.
Every candidate file is opened and fully decoded once while scanning, because
``PIL.Image.verify()`` does not notice truncated JPEG/PNG data and a bad file
found mid-training is far more annoying than a slower scan. Bad files are
reported as ``SkippedFile`` and left out; nothing in a dataset crashes a scan.

What a scan produces (``Sample``, ``DatasetIndex``) and the split are
modality-neutral and live in ``tlstudio.core.data.index``; the image
``Modality`` that the trainer uses is ``tlstudio.core.data.image_modality``.

Cancel and progress: ``scan_folder``/``scan_csv`` take an optional
``job`` (``core.progress.JobState``): ``check(job)`` runs before each file
(it raises ``Cancelled``) and ``set_progress(job, done, total)`` after it.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from tlstudio.core.data.detect import IMAGE_EXTENSIONS
from tlstudio.core.data.table_read import empty_table_error, iter_records, read_table
from tlstudio.core.data.index import (DEFAULT_UNLABELED_FOLDER, UNLABELED, DatasetIndex, Sample, SkippedFile,
                                      drop_empty_classes)
from tlstudio.core.data.label_sets import MULTILABEL, decide_task_type, label_set_samples
from tlstudio.core.errors import DatasetError
from tlstudio.core.paths import NotARegularFile, open_regular_file
from tlstudio.core.progress import JobState, check, set_progress

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- validation

def check_image_file(path: str | os.PathLike) -> str | None:
    """Why the file cannot be used as an image, or None when it decodes fully."""
    path = Path(path)
    try:
        fh = open_regular_file(path)
    except NotARegularFile:
        return "not a regular file"
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        return "empty file (0 bytes)"
    try:
        # PIL warns (once, on stderr) between MAX_IMAGE_PIXELS and twice that: such an image is
        # skipped with a one-line reason like the larger ones it raises an error for.
        with fh, Image.open(fh) as im, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if im.format == "JPEG":
                # DCT-domain downscaling still reads every byte, so truncation is
                # caught at a fraction of the full decode cost.
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except UnidentifiedImageError:
        return "not an image"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "image too large (possible decompression bomb)"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return f"truncated or corrupt image data: {exc}"
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; never crash a scan
        return f"unreadable image: {exc}"
    return None


def _validate(candidates: list[tuple[str, int]], job: JobState | None,
              ) -> tuple[list[Sample], list[SkippedFile]]:
    samples: list[Sample] = []
    skipped: list[SkippedFile] = []
    total = len(candidates)
    set_progress(job, 0, total)
    for done, (path, label) in enumerate(candidates, start=1):
        check(job)
        reason = check_image_file(path)
        if reason is None:
            samples.append(Sample(path, label))
        else:
            skipped.append(SkippedFile(path, reason))
        set_progress(job, done, total)
    return samples, skipped


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, links resolved, stays inside ``root`` (a resolved folder)."""
    return Path(os.path.realpath(path)).is_relative_to(root)


def _extension_reason(path: Path) -> str | None:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return None
    return f"unsupported file type {ext}" if ext else "unsupported file type (no extension)"


# --------------------------------------------------------------------------- scanning

def _split_pool(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """(labelled, pool): validated samples apart by their label."""
    return [s for s in samples if s.label != UNLABELED], [s for s in samples if s.label == UNLABELED]


def scan_folder(root: str | os.PathLike, *, job: JobState | None = None,
                unlabeled_folder: str = DEFAULT_UNLABELED_FOLDER) -> DatasetIndex:
    """Index a folder-per-class tree.

    Hidden files and folders are ignored, and so are non-image files beside the
    class folders (README, licence); anything else that is not a usable image
    is reported in ``skipped``. The folder named ``unlabeled_folder`` (exactly;
    "" for none) is no class: its images are the pool. Class folders without a
    usable image are left out of ``classes`` and named in ``empty_classes``.
    """
    root_path = Path(root).expanduser().resolve()
    if not root_path.is_dir():
        raise DatasetError(f"The dataset folder '{root}' does not exist or is not a folder.")
    skipped: list[SkippedFile] = []
    class_dirs: list[Path] = []
    for entry in sorted(root_path.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not _inside(entry, root_path):
            skipped.append(SkippedFile(str(entry), "a link that leads outside the dataset folder (not followed)"))
        elif entry.is_dir():
            class_dirs.append(entry)
        elif entry.suffix.lower() in IMAGE_EXTENSIONS:
            # A README or licence beside the class folders is normal; a stray image is worth a note.
            skipped.append(SkippedFile(str(entry), "not inside a class folder"))
    pool_dirs = [d for d in class_dirs if unlabeled_folder and d.name == unlabeled_folder]
    class_dirs = [d for d in class_dirs if d not in pool_dirs]
    classes = [d.name for d in class_dirs]
    candidates: list[tuple[str, int]] = []
    for label, class_dir in [*enumerate(class_dirs), *((UNLABELED, d) for d in pool_dirs)]:
        for dirpath, dirnames, filenames in os.walk(class_dir):
            check(job)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                reason = _extension_reason(path) or (None if _inside(path, root_path) else
                                                     "a link that leads outside the dataset folder (not followed)")
                if reason:
                    skipped.append(SkippedFile(str(path), reason))
                else:
                    candidates.append((str(path), label))
    samples, bad = _validate(candidates, job)
    skipped.extend(bad)
    samples, pool = _split_pool(samples)
    declared = classes
    # Beside a pool, an empty class folder is a class waiting for labels (empty_classes), not a problem.
    classes, samples = drop_empty_classes(classes, samples, [] if pool else skipped,
                                          lambda name: str(root_path / name))
    return DatasetIndex(str(root_path), classes, samples, sorted(skipped, key=lambda s: s.path), pool=pool,
                        empty_classes=[c for c in declared if c not in set(classes)])


_HEADER_PATHS = {"path", "file", "filename", "file_name", "image", "image_path", "filepath"}
_HEADER_LABELS = {"label", "class", "category", "target", "class_name", "labels", "tags"}


def _names_manifest_columns(cells) -> bool:
    return len(cells) >= 2 and cells[0].strip().lower() in _HEADER_PATHS


def scan_csv(csv_path: str | os.PathLike, *, job: JobState | None = None, encoding: str | None = None,
             task_type: str | None = None) -> DatasetIndex:
    """Index a CSV of ``path,label`` rows (header optional). The label cell may hold a label set
    (``task_type``: "auto"/None, "single", "multilabel"; see ``core.data.label_sets``)."""
    csv_file = Path(csv_path).expanduser().resolve()
    if not csv_file.is_file():
        raise DatasetError(f"The dataset CSV file '{csv_path}' does not exist.")

    def unclosed(line: int, last: int) -> None:
        # A quote left open makes one cell of every later line: report it, never lose them.
        raise DatasetError(f"The dataset CSV file '{csv_file}' has a quote (\") opened on line {line} that is "
                           "not closed on that line, so the rows after it cannot be read; fix that line.")

    # As spreadsheets save it: UTF-8 (BOM or not) or UTF-16 with a BOM, "," ";" tab or "|" (sniffed).
    _, delimiter, lines = read_table(csv_file, encoding=encoding, header_hint=_names_manifest_columns)
    rows: list[tuple[int, list[str]]] = []
    for line_no, row in iter_records(lines, delimiter, unclosed):
        if any("\n" in c or "\r" in c for c in row):
            unclosed(line_no, line_no)
        rows.append((line_no, row))
    if not any(any(c.strip() for c in row) for _, row in rows):
        raise empty_table_error(csv_file)
    base = csv_file.parent
    skipped: list[SkippedFile] = []
    entries: list[tuple[str, str]] = []
    for line_no, row in rows:
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if line_no == 1 and len(cells) >= 2 and cells[0].lower() in _HEADER_PATHS \
                and cells[1].lower() in _HEADER_LABELS:
            continue
        where = f"{csv_file}:{line_no}"
        if len(cells) != 2 or not cells[0]:        # an empty label cell: a pool image
            skipped.append(SkippedFile(where, "malformed row (expected 'path,label')"))
            continue
        path = Path(cells[0]).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            skipped.append(SkippedFile(str(path), "file not found"))
            continue
        reason = _extension_reason(path)
        if reason:
            skipped.append(SkippedFile(str(path), reason))
            continue
        entries.append((str(path.resolve()), cells[1]))
    kind = decide_task_type((c for _, c in entries if c), task_type)
    if kind == MULTILABEL:
        return _label_set_index(csv_file, entries, skipped, job)
    classes = sorted({label for _, label in entries if label})
    label_of = {name: i for i, name in enumerate(classes)}
    samples, bad = _validate([(p, label_of.get(c, UNLABELED)) for p, c in entries], job)
    skipped.extend(bad)
    samples, pool = _split_pool(samples)
    declared = classes
    classes, samples = drop_empty_classes(classes, samples, skipped, lambda name: f"{csv_file} (label '{name}')")
    return DatasetIndex(str(csv_file), classes, samples, skipped, pool=pool,
                        empty_classes=[c for c in declared if c not in set(classes)])


def _label_set_index(csv_file: Path, entries: list[tuple[str, str]], skipped: list[SkippedFile],
                     job: JobState | None) -> DatasetIndex:
    """A multi-label manifest: the files are validated, then the label sets of the good ones read (an empty
    label cell: a pool image)."""
    cell_of = {p: c for p, c in entries if c}
    entries = [(p, c) for p, c in entries if c or p not in cell_of]     # a file also listed with labels is not pool
    good, bad = _validate([(p, 0 if c else UNLABELED) for p, c in entries], job)
    skipped.extend(bad)
    good, pool = _split_pool(good)
    classes, samples, _ = label_set_samples([(s.path, cell_of[s.path], None) for s in good])
    return DatasetIndex(str(csv_file), classes, samples, skipped, task_type=MULTILABEL, pool=pool)


def scan(path: str | os.PathLike, *, job: JobState | None = None, encoding: str | None = None,
         task_type: str | None = None, unlabeled_folder: str = DEFAULT_UNLABELED_FOLDER) -> DatasetIndex:
    """Scan a folder or a .csv file (``encoding``: the CSV's, when named) and check that it can train
    a classifier, or holds a pool to label (then fewer than two classes, or none, is no error here:
    ``index.require_labels`` says so when training)."""
    if not str(path).strip():
        raise DatasetError("No dataset chosen; pick a folder of class sub-folders or a CSV file.")
    target = Path(path).expanduser()
    if not target.exists():
        raise DatasetError(f"The dataset '{path}' does not exist.")
    if target.is_dir():
        index = scan_folder(target, job=job, unlabeled_folder=unlabeled_folder)
    elif target.suffix.lower() == ".csv":
        index = scan_csv(target, job=job, encoding=encoding, task_type=task_type)
    else:
        raise DatasetError(f"'{path}' is neither a folder nor a .csv file; TL Studio cannot read it as a dataset.")
    if index.pool:
        return index
    if not index.samples:
        extra = f" ({len(index.skipped)} files were skipped)" if index.skipped else ""
        raise DatasetError(f"No usable images were found in '{index.root}'{extra}.")
    if len(index.classes) == 1:
        raise DatasetError(f"The dataset '{index.root}' has only one class ('{index.classes[0]}'); "
                           "a classifier needs at least two.")
    return index


# --------------------------------------------------------------------------- loading

def _high_bit_to_l(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit and float greyscale to 8 bits over its range instead of clipping."""
    arr = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I;16"):
        scaled = arr / 257.0
    elif im.mode == "F" and arr.size and arr.min() >= 0.0 and arr.max() <= 1.0:
        scaled = arr * 255.0
    elif im.mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        scaled = arr / 257.0      # "I" is how Pillow opens most 16-bit files
    else:
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("PA", "LA", "La", "RGBa", "RGBX"):
        im = im.convert("RGBA")
    elif im.mode == "L" and "transparency" in im.info:
        im = im.convert("RGBA")
    elif im.mode.startswith("I") or im.mode == "F":
        im = _high_bit_to_l(im)
    if im.mode == "RGBA":
        # Transparent areas become white, as image viewers usually show them.
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im, mask=im.getchannel("A"))
        return background
    return im.convert("RGB")


def load_image_rgb(path: str | os.PathLike) -> Image.Image:
    """Open any supported image as 8-bit RGB with its EXIF orientation applied."""
    try:
        with open_regular_file(path) as fh, Image.open(fh) as im:
            im.load()
            oriented = ImageOps.exif_transpose(im) or im
            return _to_rgb(oriented).copy()
    except NotARegularFile as exc:
        raise DatasetError(f"'{path}' is not a regular file (a pipe, device or folder); TL Studio reads only "
                           "files.") from exc
    except FileNotFoundError as exc:
        raise DatasetError(f"The image '{path}' does not exist.") from exc
    except UnidentifiedImageError as exc:
        raise DatasetError(f"The file '{path}' is not an image TL Studio can read.") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise many types; report them all the same way
        raise DatasetError(f"The image '{path}' cannot be read: {exc}.") from exc


# --------------------------------------------------------------------------- datasets

class ImageDataset(torch.utils.data.Dataset):
    """``(samples, transform) -> (tensor, label)``; plain attributes so DataLoader workers can pickle it."""

    def __init__(self, samples: Sequence[Sample], transform: Callable[[Image.Image], Any]):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        sample = self.samples[i]
        return self.transform(load_image_rgb(sample.path)), sample.label

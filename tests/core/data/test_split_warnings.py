"""What a split lacks is said, hostile class names print as one escaped cell, an empty CSV says so."""
from __future__ import annotations

import pytest
from PIL import Image

from tlstudio.cli.commands import main
from tlstudio.core.data.images import scan
from tlstudio.core.data.index import DatasetIndex, Sample, format_report, printable, split_dataset
from tlstudio.core.errors import DatasetError


def _index(counts: dict[str, int]) -> DatasetIndex:
    classes = list(counts)
    samples = [Sample(f"/d/{c}/{i}.png", label) for label, c in enumerate(classes) for i in range(counts[c])]
    return DatasetIndex("/d", classes, samples, [])


def test_a_one_image_class_and_a_tiny_validation_split_are_warned():
    split = split_dataset(_index({"cat": 1, "dog": 5}), 0.2)
    text = " ".join(split.warnings)
    assert "Class 'cat' has only 1 image(s)" in text and "no validation" in text
    assert "validation split has only 1 sample(s)" in text
    assert not split_dataset(_index({"cat": 30, "dog": 30}), 0.2).warnings


def test_labels_that_differ_only_in_case_are_warned():
    warnings = split_dataset(_index({"ANIMAL": 30, "animal": 30, "plant": 30}), 0.2).warnings
    assert len(warnings) == 1 and "'ANIMAL' and 'animal' differ only in letter case" in warnings[0]


def test_control_and_direction_characters_are_escaped_in_tables():
    assert printable("a\nb") == "a\\nb" and printable("evil\u202eexe") == "evil\\u202eexe"
    assert printable("café") == "café"
    report = format_report(_index({"line\nbreak": 2, "plain": 2}))
    assert "line\\nbreak" in report and all("\u202e" not in line for line in report.splitlines())
    assert len(report.splitlines()) == 4


def test_an_empty_csv_says_it_is_empty(tmp_path, capsys):
    empty = tmp_path / "data.csv"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="is empty"):
        scan(empty)
    assert main(["scan", str(empty), "-q"]) == 2
    err = capsys.readouterr().err
    assert "is empty" in err and "No usable images" not in err and len(err.strip().splitlines()) == 1


def test_train_prints_what_the_split_lacks(tmp_path, capsys, monkeypatch):
    from tlstudio.core.train.trainer import Trainer

    for cls, n in (("cat", 1), ("dog", 4), ("DOG", 4)):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(tmp_path / "d" / cls / f"{i}.png")
    monkeypatch.setattr(Trainer, "run", lambda self: {"cancelled": False, "val_accuracy": 1.0})   # the warnings only
    assert main(["train", str(tmp_path / "d"), "--out", str(tmp_path / "run"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: Class 'cat' has only 1 image(s)" in err
    assert "warning: The validation split has only 2 sample(s)" in err
    assert "'DOG' and 'dog' differ only in letter case" in err

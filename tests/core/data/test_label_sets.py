"""Multi-label data: label cells, detection, the scan report, split.json rows, the iterative split."""
import json
from pathlib import Path

import pytest

from tests.multilabel_data import compose_images, compose_texts, demo_image_items, demo_text_items
from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.index import DatasetIndex, Sample, sample_from_row, sample_row, split_dataset
from tlstudio.core.data.label_sets import decide_task_type, iterative_split, multilabel_report, split_labels
from tlstudio.core.data.modality import scan
from tlstudio.core.project import Project


def test_label_cells_split_on_separators_and_json_lists():
    assert split_labels("billing; login") == ("billing", "login")
    assert split_labels("a|b|a|") == ("a", "b")
    assert split_labels('["x y", "z"]') == ("x y", "z")
    assert split_labels('["only"]') == ("only",)
    assert split_labels(["p", " q "]) == ("p", "q")
    assert split_labels("  ") == ()
    assert decide_task_type(["a", "b"]) == "single"
    assert decide_task_type(["a", "b;c"]) == "multilabel"
    assert decide_task_type(["a;b"], "single") == "single"
    assert decide_task_type(["a"], "multilabel") == "multilabel"


def test_image_manifest_is_read_as_label_sets(tmp_path):
    manifest = compose_images(demo_image_items(6), tmp_path, 40)
    (tmp_path / "images" / "extra.png").write_bytes((tmp_path / "images" / "0000.png").read_bytes())
    with open(manifest, "a", encoding="utf-8") as fh:
        fh.write("images/extra.png,\n")           # a row without a label: the unlabeled pool
    index = scan(manifest)
    assert [Path(s.path).name for s in index.pool] == ["extra.png"]
    assert index.task_type == "multilabel"
    assert index.classes == ["ankle_boot", "bag", "dress", "sneaker", "t-shirt_top", "trouser"]
    rows = [line.split(",") for line in manifest.read_text().splitlines()[1:41]]
    by_path = {str((tmp_path / p).resolve()): set(cell.split(";")) for p, cell in rows}
    for s in index.samples:
        assert {index.classes[i] for i in s.labels} == by_path[s.path]
        assert s.label == s.labels[0]
    report = index.to_report()["multilabel"]
    assert report["without_label"] == 1
    assert sum(report["label_counts"].values()) == sum(len(v) for v in by_path.values())
    pairs = sum(1 for v in by_path.values() if v == {"bag", "dress"})
    assert report["cooccurrence"][1][2] == pairs
    assert report["cardinality"] == pytest.approx(sum(len(v) for v in by_path.values()) / 40)


def test_text_tables_and_jsonl_lists_and_explicit_single(tmp_path):
    csv_index = scan(compose_texts(demo_text_items(), tmp_path / "c", 80))
    jsonl_index = scan(compose_texts(demo_text_items(), tmp_path / "j", 80, jsonl=True))
    for index in (csv_index, jsonl_index):
        assert index.task_type == "multilabel"
        assert index.classes == ["animal", "body", "feeling", "food", "location", "plant"]
        assert max(len(s.labels) for s in index.samples) == 2
    assert [s.labels for s in csv_index.samples] == [s.labels for s in jsonl_index.samples]
    project = Project()
    project.data.task_type = "single"
    single = scan(tmp_path / "c" / "texts.csv", data=project.data)
    assert single.task_type == "single" and any("|" in c for c in single.classes)
    assert all(s.labels is None for s in single.samples)


def test_split_rows_round_trip_and_single_label_rows_unchanged():
    multi = Sample("a.png", 1, None, (1, 3))
    text_multi = Sample("t.csv:2", 0, "hello", (0, 2))
    for s in (multi, text_multi):
        assert sample_from_row(json.loads(json.dumps(sample_row(s)))) == s
    assert sample_row(Sample("b.png", 2)) == ["b.png", 2]
    assert sample_row(Sample("t.csv:3", 1, "x")) == ["t.csv:3", 1, "x"]
    with pytest.raises(ValueError):
        sample_from_row(["a.png", 1, None, []])


def test_iterative_split_keeps_every_label_in_train_and_spreads_labels():
    samples = [Sample(f"{i}.png", 0, None, (0,) if i % 3 else (0, 1)) for i in range(60)]
    samples += [Sample("rare1.png", 2, None, (2,)), Sample("rare2.png", 2, None, (2, 0))]
    index = DatasetIndex("/d", ["common", "some", "rare"], samples, task_type="multilabel")
    split = split_dataset(index, 0.2, 0.1, seed=3)
    assert split == split_dataset(index, 0.2, 0.1, seed=3)
    parts = (split.train, split.val, split.test)
    assert sorted(s.path for p in parts for s in p) == sorted(s.path for s in samples)
    for label in range(3):
        assert any(label in s.labels for s in split.train)
    some_val = sum(1 in s.labels for s in split.val)
    assert some_val == pytest.approx(20 * 0.2, abs=1)
    assert len(split.val) == pytest.approx(62 * 0.2, abs=2)
    assert any("rare" in w for w in iterative_split(index, 0.2, 0.1, 3).warnings)


def test_project_task_type_saved_and_old_files_single(tmp_path):
    project = Project()
    assert project.data.task_type == "auto"
    assert Project.from_dict(project.to_dict()).data.task_type == "auto"
    old = project.to_dict()
    del old["data"]["task_type"]
    loaded = Project.from_dict(old)
    assert loaded.data.task_type == "single"
    assert "task_type" not in loaded.to_dict()["data"]            # an old file saves as it was
    project.data.task_type = "multi"
    with pytest.raises(Exception, match="task type"):
        project.validate()


def test_label_override_names_a_label_set(tmp_path):
    index = DatasetIndex(str(tmp_path), ["a", "b", "c"], [Sample(str(tmp_path / "x.png"), 0, None, (0, 1))],
                         task_type="multilabel")
    project = Project()
    project.data.label_overrides = {"x.png": "b;c"}
    assert apply_curation(index, project.data).samples[0].labels == (1, 2)
    assert multilabel_report(index)["cooccurrence"] == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]

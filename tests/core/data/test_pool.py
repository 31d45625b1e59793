"""The unlabeled pool: an image folder's ``unlabeled/`` and table rows with an empty label are counted,
never an error, never in the split or training; a label given in the project moves a sample into the
data; the user's files never change (except through "Apply to disk", with undo)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.planted_copies import fashion_images
from tlstudio import cli
from tlstudio.core.data.curation import apply_curation, curation_summary, label_pool_sample
from tlstudio.core.data.index import UNLABELED, pool_keys, require_labels, sample_keys, split_dataset
from tlstudio.core.data.modality import scan
from tlstudio.core.errors import DatasetError
from tlstudio.core.insight.actions import apply_to_disk, undo_apply
from tlstudio.core.project import Project

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def image_folder(root: Path, labelled: dict[int, int], unlabeled: int) -> Path:
    """Real Fashion-MNIST images: ``labelled[c]`` per class ``c`` in class folders, ``unlabeled`` more
    (of those classes) in ``unlabeled/``."""
    images, labels = fashion_images(3000, seed=1)
    want = dict(labelled)
    pool_left = unlabeled
    for i, (image, label) in enumerate(zip(images, labels)):
        c = int(label)
        if want.get(c, 0) > 0:
            folder, want[c] = root / NAMES[c], want[c] - 1
        elif c in labelled and pool_left > 0:
            folder, pool_left = root / "unlabeled", pool_left - 1
        else:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:05d}.png")
        if not any(want.values()) and not pool_left:
            break
    return root


def text_table(path: Path) -> Path:
    path.write_text("text,label\n"
                    "the cat purred on the sofa,animal\n"
                    "a dog barked at the postman,animal\n"
                    "the horse galloped away,animal\n"
                    "a red car sped down the road,vehicle\n"
                    "the truck hauled timber,vehicle\n"
                    "a bus stopped at the corner,vehicle\n"
                    "an owl hooted at night,\n"
                    "the train left the station,\n"
                    "a goat chewed the grass, \n", encoding="utf-8")
    return path


def test_image_folder_pool_is_counted_browsable_and_never_split(tmp_path):
    data = image_folder(tmp_path / "data", {0: 6, 1: 6}, unlabeled=5)
    index = scan(data)
    assert index.classes == ["t-shirt", "trouser"] and index.counts() == {"t-shirt": 6, "trouser": 6}
    assert len(index.pool) == 5 and all(s.label == UNLABELED for s in index.pool)
    assert all(k.startswith("unlabeled/") for k in pool_keys(index)) and not index.skipped
    assert index.to_report()["unlabeled"] == 5 and index.to_report()["total"] == 12
    split = split_dataset(index, 0.25, 0.25)
    in_split = {s.path for part in (split.train, split.val, split.test) for s in part}
    assert in_split == {s.path for s in index.samples} and not in_split & {s.path for s in index.pool}


def test_labelling_a_pool_sample_moves_it_into_the_data_and_leaves_files_alone(tmp_path):
    data = image_folder(tmp_path / "data", {0: 4, 1: 4}, unlabeled=4)
    before = tree(data)
    p = Project(name="pool")
    p.data.path = str(data)
    index = scan(data, data=p.data)
    first, second, third = pool_keys(index)[:3]
    label_pool_sample(p, first, "trouser")
    label_pool_sample(p, second, "coat")            # a class the data does not have yet
    label_pool_sample(p.data, third, "t-shirt")
    label_pool_sample(p, third, None)               # cleared: back to the pool
    p.save(tmp_path / "p.json")
    p = Project.load(tmp_path / "p.json")
    cur = apply_curation(index, p.data)
    assert cur.classes == ["t-shirt", "trouser", "coat"]            # scanned numbers kept, the new one after
    assert cur.counts() == {"t-shirt": 4, "trouser": 5, "coat": 1}
    assert len(cur.pool) == 2 and third in pool_keys(cur) and first not in pool_keys(cur)
    assert sample_keys(cur)[-2:] == [first, second]
    assert apply_curation(cur, p.data).counts() == cur.counts() and len(apply_curation(cur, p.data).pool) == 2
    assert curation_summary(index, p.data)["labelled"] == 2
    split = split_dataset(cur, 0.25)
    assert {s.path for part in (split.train, split.val) for s in part} == {s.path for s in cur.samples}
    assert tree(data) == before                     # labels live in the project only
    # Apply to disk: the labelled pool images move into their class folders (a new class gets one); undo
    # puts everything back.
    record = apply_to_disk(p, tmp_path / "p.json")
    assert (data / "trouser" / Path(first).name).is_file() and not (data / first).exists()
    assert (data / "coat" / Path(second).name).is_file() and not p.data.label_overrides
    assert apply_curation(scan(data, data=p.data), p.data).counts() == {"coat": 1, "t-shirt": 4, "trouser": 5}
    p.data.label_overrides = {**p.data.label_overrides, **undo_apply(record)}
    assert tree(data) == before and not (data / "coat").exists()
    assert p.data.label_overrides == {first: "trouser", second: "coat"}


def test_unlabeled_folder_name_is_configurable_and_old_projects_load_unchanged(tmp_path, capsys):
    data = image_folder(tmp_path / "data", {0: 3, 1: 3}, unlabeled=3)
    old = {"name": "old", "task": "image", "data": {"path": str(data), "val_fraction": 0.2,
                                                    "test_fraction": 0.0, "seed": 0, "augment": "none"}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = Project.load(tmp_path / "old.json")
    assert loaded.data.unlabeled_folder == "unlabeled" and loaded.to_dict()["data"] == old["data"]
    loaded.data.unlabeled_folder = ""                       # no pool folder: "unlabeled" is a class again
    index = scan(data, data=loaded.data)
    assert "unlabeled" in index.classes and not index.pool
    (data / "unlabeled").rename(data / "to-label")
    loaded.data.unlabeled_folder = "to-label"
    loaded.save(tmp_path / "new.json")
    again = Project.load(tmp_path / "new.json")
    assert again.data.unlabeled_folder == "to-label" and len(scan(data, data=again.data).pool) == 3
    assert cli.main(["scan", str(data), "--unlabeled-folder", "to-label", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["unlabeled"] == 3
    bad = dict(old, data={**old["data"], "unlabeled_folder": "../x"})
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(Exception, match="unlabeled_folder"):
        Project.load(tmp_path / "bad.json")


def test_a_table_with_empty_label_cells_has_a_pool(tmp_path):
    table = text_table(tmp_path / "notes.csv")
    before = table.read_bytes()
    index = scan(table, "text")
    assert index.counts() == {"animal": 3, "vehicle": 3} and not index.issues
    assert [(k, s.text) for k, s in zip(pool_keys(index), index.pool)] == [
        ("notes.csv:8", "an owl hooted at night"), ("notes.csv:9", "the train left the station"),
        ("notes.csv:10", "a goat chewed the grass")]
    p = Project(name="t", task="text")
    label_pool_sample(p, "notes.csv:8", "animal")
    cur = apply_curation(index, p.data)
    assert cur.counts() == {"animal": 4, "vehicle": 3} and [s.text for s in cur.pool][0] == "the train left the station"
    assert table.read_bytes() == before
    # A pool text that repeats a labelled one is a duplicate (the labelled copy is kept).
    table.write_text(table.read_text() + "the cat purred on the sofa,\n")
    again = scan(table, "text")
    assert len(again.pool) == 3 and [i.kind for i in again.issues] == ["duplicate"]


def test_json_lines_and_image_manifests_route_empty_labels_to_the_pool(tmp_path):
    rows = [{"text": "sunny and warm", "label": "weather"}, {"text": "heavy rain tonight", "label": "weather"},
            {"text": "stocks fell", "label": "money"}, {"text": "the bank raised rates", "label": "money"},
            {"text": "a cold wind", "label": None}, {"text": "prices doubled", "label": ""}, {"text": "fog"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    index = scan(tmp_path / "d.jsonl", "text")
    assert len(index.samples) == 4 and [s.text for s in index.pool] == ["a cold wind", "prices doubled", "fog"]
    data = image_folder(tmp_path / "imgs", {0: 3, 1: 3}, unlabeled=2)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in data.rglob("*.png"))
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\n" + "".join(
        f"{f},{'' if '/unlabeled/' in f else f.split('/')[1]}\n" for f in files))
    index = scan(manifest)
    assert index.counts() == {"t-shirt": 3, "trouser": 3} and len(index.pool) == 2 and not index.skipped


def test_a_dataset_of_only_unlabeled_samples_scans_and_refuses_to_train(tmp_path, capsys):
    data = image_folder(tmp_path / "data", {0: 0, 1: 0}, unlabeled=6)
    (data / "coat").mkdir()                                  # an empty class folder names a class to label with
    index = scan(data)
    assert index.classes == [] and len(index.pool) == 6 and index.label_choices() == ["coat"]
    with pytest.raises(DatasetError, match="at least 2 classes.*0 labelled.*6 unlabeled"):
        require_labels(apply_curation(index, Project().data), "images")
    assert cli.main(["scan", str(data), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unlabeled"] == 6 and report["total"] == 0
    assert cli.main(["scan", str(data), "-q"]) == 0
    assert "6 unlabeled images" in capsys.readouterr().out
    assert cli.main(["train", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs labelled images in at least 2 classes" in err
    assert not (tmp_path / "run").exists()
    # A table whose every label cell is empty: the same.
    (tmp_path / "t.csv").write_text("text,label\nfirst note,\nsecond note,\n")
    assert len(scan(tmp_path / "t.csv", "text").pool) == 2


def test_a_run_trains_on_labelled_pool_samples_and_never_on_the_rest(tmp_path):
    from tlstudio.core.model.head import HeadSpec
    from tlstudio.core.train.trainer import Trainer

    data = image_folder(tmp_path / "data", {0: 5, 1: 5}, unlabeled=4)
    p = Project(name="pool-run")
    p.data.path = str(data)
    p.model.name, p.model.image_size, p.head = "tf_efficientnet_lite0", 64, HeadSpec(layers=[])
    p.training.head_fit, p.training.epochs, p.training.batch_size, p.training.device = "epochs", 1, 8, "cpu"
    keys = pool_keys(scan(data))
    label_pool_sample(p, keys[0], "trouser")
    Trainer(p, tmp_path / "run").run()
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    rows = {Path(r[0]).relative_to(data).as_posix(): r[1] for part in split.values() for r in part}
    assert len(rows) == 11 and rows[keys[0]] == 1
    assert not set(keys[1:]) & set(rows) and all(label >= 0 for label in rows.values())


def test_a_text_folder_has_its_pool_in_unlabeled(tmp_path):
    texts = {"pos": ["a lovely day", "great food"], "neg": ["awful service", "cold soup"],
             "unlabeled": ["the bus was late", "lovely view"]}
    for folder, lines in texts.items():
        (tmp_path / "t" / folder).mkdir(parents=True)
        for i, line in enumerate(lines):
            (tmp_path / "t" / folder / f"{i}.txt").write_text(line)
    index = scan(tmp_path / "t", "text")
    assert index.classes == ["neg", "pos"] and sorted(s.text for s in index.pool) == ["lovely view", "the bus was late"]
    assert pool_keys(index) == ["unlabeled/0.txt", "unlabeled/1.txt"]

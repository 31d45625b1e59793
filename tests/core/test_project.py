"""Project document: round trip, schema versioning, validation, atomic save."""
import json
from pathlib import Path

import pytest

from tlstudio.core.errors import ProjectError
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.project import SCHEMA_VERSION, Project, RunRecord
from tlstudio.core.zoo.sources import WeightsSource


def _custom_project(data_path: str) -> Project:
    p = Project(name="Flowers")
    p.data.path = data_path
    p.data.val_fraction = 0.25
    p.data.augment = "light"
    p.model.name = "resnet18"
    p.model.image_size = 160
    p.frozen = ["base.layer1", "base.layer2"]
    p.head = HeadSpec([HeadLayer("linear", width=64), HeadLayer("activation", activation="relu"),
                       HeadLayer("dropout", p=0.3)], num_classes=5)
    p.training.epochs = 3
    p.training.lr = 0.01
    p.training.amp = False
    p.finetune.enabled = True
    p.finetune.unfreeze_last = 1
    p.add_run("/x/run1", {"val_accuracy": 0.9})
    return p


def test_round_trip_through_file(tmp_path):
    project = _custom_project(str(tmp_path / "elsewhere" / "data"))
    path = tmp_path / "p.json"
    project.save(path)
    loaded = Project.load(path)
    assert loaded == project
    assert json.loads(path.read_text())["version"] == SCHEMA_VERSION


def test_data_path_inside_project_folder_saved_relative_and_resolved_on_load(tmp_path):
    folder = tmp_path / "proj"
    project = _custom_project(str(folder / "images"))
    project.save(folder / "p.json")
    assert json.loads((folder / "p.json").read_text())["data"]["path"] == "images"
    # Moving the whole folder keeps the project working.
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert Project.load(moved / "p.json").data.path == str((moved / "images").resolve())


def test_outside_data_path_stays_absolute(tmp_path):
    project = _custom_project(str(tmp_path / "data"))
    project.save(tmp_path / "sub" / "p.json")
    assert json.loads((tmp_path / "sub" / "p.json").read_text())["data"]["path"] == str(tmp_path / "data")


def test_newer_schema_rejected(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"version": 2, "name": "x"}))
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    assert str(info.value) == ("This project was saved by a newer TL Studio (schema 2); "
                               "this version reads schema 1.")


def test_invalid_json_names_the_problem(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"version": 1, "name": ')
    with pytest.raises(ProjectError, match="not valid JSON"):
        Project.load(path)


@pytest.mark.parametrize("doc, fragment", [
    ({"training": {"epochs": "ten"}}, "'training.epochs'"),
    ({"training": {"amp": 1}}, "'training.amp'"),
    ({"data": []}, "'data' must be an object"),
    ({"model": {"image_size": 1.5}}, "'model.image_size'"),
    ({"frozen": "base"}, "'frozen'"),
    ({"head": {"layers": [{"type": "linear", "width": -3}]}}, "'head'"),
    ([1, 2], "top level"),
])
def test_wrong_types_rejected(doc, fragment):
    with pytest.raises(ProjectError) as info:
        Project.from_dict(doc)
    assert fragment in str(info.value)


def test_unknown_keys_ignored_and_ints_accepted_for_floats():
    p = Project.from_dict({"version": 1, "future_feature": {"a": 1},
                           "training": {"lr": 1, "mystery": True}, "model": {"image_size": None}})
    assert p.training.lr == 1.0 and isinstance(p.training.lr, float)
    assert p.model.image_size is None


def test_missing_file_is_project_error(tmp_path):
    with pytest.raises(ProjectError, match="not found"):
        Project.load(tmp_path / "nope.json")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    Project(name="first").save(path)
    before = path.read_text()
    # A failure midway through the write must leave the old file intact and no temp file.
    import os

    def boom(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        Project(name="second").save(path)
    monkeypatch.undo()
    assert path.read_text() == before
    Project(name="third").save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]
    assert Project.load(path).name == "third"


# -- files written by earlier builds, and the derived values -------------------------

OLD_FILE = Path(__file__).parent / "data_files" / "project_v1.json"


def test_a_project_file_saved_before_typed_runs_and_weights_loads_and_round_trips(tmp_path):
    project = Project.load(OLD_FILE)
    assert project.model.weights == WeightsSource("file", "/weights/resnet18-custom.pth")
    assert project.frozen == ["base.conv1", "base.bn1", "base.layer1", "base.layer2"]
    assert [type(r) for r in project.runs] == [RunRecord, RunRecord]
    first, failed = project.runs
    assert first.run_dir == "/data/runs/run1" and first.val_accuracy == 0.9 and not first.failed
    assert failed.cancelled and failed.error == "CUDA out of memory" and failed.val_accuracy is None
    assert project.num_classes == 5
    assert project.task == "image"                     # the field newer files carry; old ones mean images
    project.save(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert again.pop("task") == "image"
    # It also gains the head-search fields: the search may choose only what was still at the
    # defaults of that time; the custom head was the user's choice and is kept.
    training = again["training"]
    assert training.pop("head_fit") == "search" and training.pop("refit") is True
    assert training.pop("auto") == ["lr", "weight_decay", "epochs"]
    assert training.pop("few_shot") == "auto"          # and the few-label mode (the modality decides)
    assert again == json.loads(OLD_FILE.read_text())


def test_weights_source_is_parsed_once_and_written_as_the_same_string():
    for text in ("auto", "none", "download"):
        assert WeightsSource.parse(text).kind == text and WeightsSource.parse(text).to_json() == text
    path = WeightsSource.parse("/w/model.safetensors")
    assert path.is_file and path.path == "/w/model.safetensors" and path.to_json() == "/w/model.safetensors"
    assert WeightsSource.parse(None).kind == "none" and WeightsSource.parse(path) is path
    settings = Project().model
    settings.weights = "download"                    # a JSON string is parsed on assignment
    assert settings.weights == WeightsSource("download")
    with pytest.raises(ValueError):
        WeightsSource("file")
    with pytest.raises(ProjectError, match="model.weights"):
        Project.from_dict({"model": {"weights": ""}})


def test_runs_keep_keys_a_newer_build_wrote():
    doc = {"runs": [{"run_dir": "/r/1", "name": "one", "val_accuracy": 1, "note": "kept"}]}
    record = Project.from_dict(doc).runs[0]
    assert record.val_accuracy == 1.0 and record.extra == {"note": "kept"}
    assert record.to_dict()["note"] == "kept" and "error" not in record.to_dict()
    assert record.label() == "one · accuracy 100.0%"
    oof = Project.from_dict({"runs": [{"run_dir": "/r/2", "name": "two", "val_accuracy": 0.5,
                                       "accuracy_source": "out-of-fold predictions (5-fold)"}]}).runs[0]
    assert oof.label() == "two · accuracy 50.0% (out-of-fold)"
    with pytest.raises(ProjectError, match="run_dir"):
        Project.from_dict({"runs": [{"name": "no folder"}]})
    with pytest.raises(ProjectError, match="runs.val_accuracy"):
        Project.from_dict({"runs": [{"run_dir": "/r", "val_accuracy": "high"}]})


def test_class_count_is_derived_from_the_data_in_one_place():
    project = Project()
    assert project.adopt_classes(["a", "b", "c"]) and project.num_classes == 3 == project.head.num_classes
    assert not project.adopt_classes(["a", "b", "c"])
    assert not project.adopt_classes(["only"]) and project.num_classes == 3


def test_changing_the_model_resets_a_frozen_set_of_another_network():
    project = Project()
    project.frozen = ["base.conv_stem"]
    assert project.choose_model(project.model.name, "/w/lite0.pth")   # same network, other weights
    assert project.frozen == ["base.conv_stem"]
    assert project.choose_model("resnet18")
    assert project.frozen == ["base"] and project.model.weights == WeightsSource("auto")
    assert not project.choose_model("resnet18")
    assert project.adopt_frozen(["base.layer1"]) and not project.adopt_frozen(["base.layer1"])

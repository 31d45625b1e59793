"""DataSettings.text_column/label_column: saved only when set, restored on load, checked."""
import json

import pytest

from tlstudio.core.errors import ProjectError
from tlstudio.core.project import Project


def test_columns_round_trip_and_are_written_only_when_set(tmp_path):
    plain = Project(task="text")
    plain.data.path = str(tmp_path / "data.csv")
    plain.save(tmp_path / "plain.json")
    before = (tmp_path / "plain.json").read_bytes()
    assert b"text_column" not in before and b"label_column" not in before
    # an older file (no fields) loads with nothing chosen and saves byte for byte the same
    loaded = Project.load(tmp_path / "plain.json")
    assert (loaded.data.text_column, loaded.data.label_column) == (None, None)
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == before

    loaded.data.text_column, loaded.data.label_column = "body", "queue"
    loaded.save(tmp_path / "chosen.json")
    data = json.loads((tmp_path / "chosen.json").read_text())["data"]
    assert (data["text_column"], data["label_column"]) == ("body", "queue")
    back = Project.load(tmp_path / "chosen.json")
    assert (back.data.text_column, back.data.label_column) == ("body", "queue")
    assert back.to_dict() == loaded.to_dict()


def test_a_column_that_is_not_a_string_is_refused(tmp_path):
    project = Project(task="text")
    d = project.to_dict()
    d["data"]["text_column"] = 3
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ProjectError, match="data.text_column"):
        Project.load(tmp_path / "bad.json")


def test_the_text_modality_scans_with_the_projects_columns(tmp_path):
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.errors import DatasetError

    data = tmp_path / "tickets.csv"
    data.write_text("id,body,queue\n" + "".join(f"{i},ticket number {i},{'ab'[i % 2]}\n" for i in range(8)),
                    encoding="utf-8")
    project = Project(task="text")
    project.data.path = str(data)
    text = modality_for("text")
    with pytest.raises(DatasetError, match="Cannot tell which columns"):
        text.scan(data, data=project.data)
    project.data.text_column, project.data.label_column = "body", "queue"
    index = text.scan(data, data=project.data)
    assert (index.text_column, index.label_column) == ("body", "queue") and index.counts() == {"a": 4, "b": 4}

"""``tlstudio-cli curves``: the learning-curve table and sentences for a real image folder."""
from __future__ import annotations

import json

import pytest

from tlstudio.cli import commands as cli
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _project(tmp_path) -> str:
    p = Project()
    p.model.image_size = 64
    p.data.test_fraction = 0.2
    path = tmp_path / "p.json"
    p.save(path)
    return str(path)


def test_curves_json_and_text(tmp_path, capsys):
    project = _project(tmp_path)
    assert cli.main(["curves", str(demo_data_dir()), "--project", project, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the test split (20 %) stays out: 240 of the 300 demo images are learned from
    assert sum(out["counts"].values()) == 240 and len(out["counts"]) == 6
    table = out["table"]
    assert [row["fraction"] for row in table] == [0.1, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert table[-1]["accuracy"] > table[0]["accuracy"] + 0.03
    assert out["texts"] and all(isinstance(t, str) and t.endswith(".") for t in out["texts"])
    # the second call reads the features from the cache and prints the human table
    assert cli.main(["curves", str(demo_data_dir()), "--project", project, "-q"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("How much more data") and out["texts"][0] in text


def test_curves_needs_data(tmp_path, capsys):
    assert cli.main(["curves"]) != 0
    assert "DATA" in capsys.readouterr().err


def test_audit_curves_adds_the_curves_to_the_report(tmp_path, capsys):
    project = _project(tmp_path)
    assert cli.main(["audit", "--project", project, str(demo_data_dir()), "--curves", "--json", "--top", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["label_issues"]) <= 2 and "duplicates" in out
    curves = out["learning_curves"]
    assert sum(curves["counts"].values()) == 240 and curves["texts"]
    assert curves["table"][-1]["accuracy"] > curves["table"][0]["accuracy"]
    assert cli.main(["audit", "--project", project, str(demo_data_dir()), "--curves", "-q"]) == 0
    text = capsys.readouterr().out
    assert "How much more data" in text and curves["texts"][0] in text
    assert cli.main(["audit", "--project", project, str(demo_data_dir()), "--json"]) == 0
    assert "learning_curves" not in json.loads(capsys.readouterr().out)       # only when asked

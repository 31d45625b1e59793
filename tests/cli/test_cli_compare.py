"""``tlstudio-cli compare``: the leaderboard as JSON for a real image folder, saved beside the project; bad
input is one line and exit 2."""
from __future__ import annotations

import json

import pytest

from tlstudio.cli import commands as cli
from tlstudio.core.project import Project
from tests.demo_subset import make_subset


@pytest.fixture
def project_file(tmp_path) -> str:
    p = Project()
    p.model.image_size = 64
    p.data.test_fraction = 0.2
    p.data.path = str(make_subset(tmp_path / "data", per_class=6))
    path = tmp_path / "p.json"
    p.save(path)
    return str(path)


def test_compare_json(project_file, tmp_path, capsys):
    assert cli.main(["compare", "--project", project_file, "--models", "tf_efficientnet_lite0", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["saved_to"] == str(tmp_path / "p.compare.json") and out["complete"] and out["noun"] == "images"
    (row,) = out["candidates"]
    assert row["model"] == "tf_efficientnet_lite0" and row["error"] is None and row["pareto"] is True
    assert row["accuracy"] > 0.4 and row["latency_ms"] > 0 and row["extract_rate"] > 0 and row["params"] > 3e6
    assert json.loads((tmp_path / "p.compare.json").read_text())["candidates"][0]["model"] == row["model"]
    assert "Traceback" not in captured.err


def test_compare_bad_input_is_one_line(project_file, tmp_path, capsys):
    assert cli.main(["compare", "--project", project_file, "--models", "tf_efficientnet_lite9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "tf_efficientnet_lite9" in err[0]
    assert cli.main(["compare", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["compare", "--project", project_file, "--models", " , "]) == 2
    assert "names no model" in capsys.readouterr().err

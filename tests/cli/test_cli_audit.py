"""tlstudio-cli audit: JSON shape on real text data, tables, and one error line with exit 2."""
import csv
import json

from tlstudio.cli import commands as cli
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project

DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def test_audit_json_and_table(tmp_path, capsys):
    rows = list(csv.reader(DEMO.open(encoding="utf-8")))
    rows[5][1] = "location"                       # an animal called a location
    data = tmp_path / "defs.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    assert _main(["audit", data, "--json", "--top", "3", "--device", "cpu"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert len(j["label_issues"]) == 3 and j["task"] == "text"
    assert set(j["label_issues"][0]) >= {"row", "text", "given", "suggested", "score"}
    assert "defs.csv:6" in [x["row"] for x in j["label_issues"]]
    assert isinstance(j["duplicates"], list) and isinstance(j["outliers"], list)
    # A project: its exclusions apply (the flipped row is gone) and the table prints.
    p = Project(name="p", task="text")
    p.data.path = str(data)
    p.model.name = "all-MiniLM-L6-v2"
    p.data.exclusions = ["defs.csv:6"]
    p.save(tmp_path / "p.json")
    assert _main(["audit", "--project", tmp_path / "p.json", "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Likely label errors:" in out and "Duplicate groups:" in out and "defs.csv:6 " not in out


def test_audit_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for argv in (["audit"], ["audit", tmp_path / "missing"], ["audit", DEMO, "--top", "0"],
                 ["audit", "--project", tmp_path / "none.json"]):
        assert _main(argv) == 2
        err = capsys.readouterr().err
        assert len([line for line in err.splitlines() if line.strip()]) == 1 and "Traceback" not in err

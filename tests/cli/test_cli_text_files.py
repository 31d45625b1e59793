"""tlstudio-cli text files: predict --file on CSV/TSV/JSONL (per row), --text-column/--label-column."""
import csv
import json

import pytest

from tlstudio.cli import commands as cli
from tlstudio.core.project import Project

from tests.core.text.tiny_models import TOPICS, save_tiny

pytest.importorskip("transformers")


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _odd_columns_csv(path, per_class: int = 12):
    """Texts under 'note', labels under 'kind': names the detection does not know."""
    rows = [(f"{w} {w} the {words[(i + 1) % len(words)]}", label)
            for label, words in TOPICS.items() for i, w in enumerate((words * per_class)[:per_class])]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "note", "kind"])
        writer.writerows((i, text, label) for i, (text, label) in enumerate(rows))
    return path


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A tiny GPT-2 text run trained with --text-column/--label-column on odd column names."""
    tmp = tmp_path_factory.mktemp("textcols")
    model = save_tiny(tmp / "tiny-gpt", "gpt2")
    data = _odd_columns_csv(tmp / "notes.csv")
    project_file = tmp / "project.json"
    code = _main(["train", data, "--model", model, "--out", tmp / "run", "--epochs", "1", "--quiet",
                  "--text-column", "note", "--label-column", "kind", "--no-search"])
    assert code == 0
    return tmp, tmp / "run", data, project_file


def test_scan_and_train_take_the_columns(text_run, capsys):
    tmp, run, data, _ = text_run
    info = json.loads((run / "model.json").read_text())
    assert info["task"] == "text" and sorted(info["classes"]) == sorted(TOPICS)
    # without the options, the odd names cannot be told apart: one line, exit 2
    assert _main(["train", data, "--task", "text", "--out", tmp / "run2", "--quiet"]) == 2
    assert "Cannot tell which columns" in _one_error_line(capsys)
    assert not (tmp / "run2").exists()
    assert _main(["scan", data, "--text-column", "note", "--label-column", "kind", "--json"]) == 0
    named = json.loads(capsys.readouterr().out)
    assert (named["text_column"], named["label_column"]) == ("note", "kind")
    assert set(named["classes"]) == set(TOPICS)
    # by number, from 0, in a file without a header (the id column is 0)
    headerless = tmp / "headerless.csv"
    headerless.write_text(data.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    assert _main(["scan", headerless, "--text-column", "1", "--label-column", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["text_column"] == "1" and report["total"] == named["total"] > 12
    assert _main(["scan", data, "--text-column", "nope", "--label-column", "kind"]) == 2
    assert "no text column 'nope'" in _one_error_line(capsys)


def test_a_project_file_keeps_the_columns(text_run, capsys):
    tmp, _, data, project_file = text_run
    project = Project(task="text")
    project.data.path = str(data)
    project.data.text_column, project.data.label_column = "note", "kind"
    project.choose_model(str(tmp / "tiny-gpt"))
    project.training.head_fit = "epochs"
    project.training.epochs = 1
    project.save(project_file)
    assert _main(["train", "--project", project_file, "--out", tmp / "run3", "--quiet"]) == 0
    assert json.loads((tmp / "run3" / "model.json").read_text())["task"] == "text"


def test_predict_reads_the_text_column_of_a_csv_tsv_or_jsonl_per_row(text_run, tmp_path, capsys):
    _, run, _, _ = text_run
    table = tmp_path / "new.csv"
    table.write_bytes(b"id,text\n1,cold rain and wind\n2\n3,sweet cake\n4,caf\xe9\n")
    assert _main(["predict", run, "--file", table, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["row"] for r in results] == ["new.csv:2", "new.csv:3", "new.csv:4", "new.csv:5"]
    assert [r["text"] for r in (results[0], results[2])] == ["cold rain and wind", "sweet cake"]
    assert all(r["label"] in TOPICS for r in (results[0], results[2]))
    assert "no text" in results[1]["error"] and "not UTF-8" in results[3]["error"]

    tsv = tmp_path / "new.tsv"
    tsv.write_text("words\tsource\nred apple soup\tme\n", encoding="utf-8")
    assert _main(["predict", run, "--file", tsv, "--text-column", "words"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("new.tsv:2: ") and "red apple soup" in out[0]

    jsonl = tmp_path / "new.jsonl"
    jsonl.write_text('{"sentence": "a big dog"}\n{"other": 1}\nnot json\n', encoding="utf-8")
    assert _main(["predict", run, "--file", jsonl, "--text", "snow", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert "row" not in results[0] and results[0]["text"] == "snow"
    assert results[1]["row"] == "new.jsonl:1" and results[1]["label"] in TOPICS
    assert "no text in 'sentence'" in results[2]["error"] and "not valid JSON" in results[3]["error"]

    lines = tmp_path / "plain.txt"           # any other file: one text per line, as before
    lines.write_text("text,label\ncold snow\n", encoding="utf-8")
    assert _main(["predict", run, "--file", lines, "--json"]) == 0
    assert [r["text"] for r in json.loads(capsys.readouterr().out)] == ["text,label", "cold snow"]


def test_bad_table_input_is_one_line_exit_2(text_run, tmp_path, capsys):
    _, run, _, _ = text_run
    unknown = tmp_path / "cols.csv"
    unknown.write_text("a,b\nx,y\n", encoding="utf-8")
    assert _main(["predict", run, "--file", unknown]) == 2
    assert "Cannot tell which column" in _one_error_line(capsys)
    assert _main(["predict", run, "--file", unknown, "--text-column", "c"]) == 2
    assert "no text column 'c'" in _one_error_line(capsys)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert _main(["predict", run, "--file", empty]) == 2
    assert "no rows" in _one_error_line(capsys)
    assert _main(["predict", run, "--file", tmp_path / "missing.csv"]) == 2
    assert "not found" in _one_error_line(capsys)
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text('{"text": 3}\n', encoding="utf-8")
    assert _main(["predict", run, "--file", only_bad]) == 2
    err = capsys.readouterr().err
    assert "could be classified" in err and "Traceback" not in err

"""tlstudio-cli predict RUN FOLDER: images and texts below a folder into CSV / JSON Lines, a summary,
resume, and one error line (exit 2) for what it refuses."""
import csv
import json
import shutil

import pytest

from tests.core.runs.run_factory import make_run
from tests.core.text.tiny_models import save_tiny, write_topic_csv
from tlstudio.cli import commands as cli
from tlstudio.core.paths import demo_data_dir


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("cli_predfolder") / "run")


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "new photos"
    (root / "day one").mkdir(parents=True)
    (root / "day two" / "later").mkdir(parents=True)
    for i, (cls, sub) in enumerate([("bag", "day one"), ("sneaker", "day one"), ("trouser", "day two"),
                                    ("bag", "day two/later"), ("sneaker", "day two/later")]):
        shutil.copyfile(demo_data_dir() / cls / f"{i:03d}.png", root / sub / f"{cls}{i}.png")
    (root / "day two" / "broken.png").write_text("not a png")
    (root / "notes.md").write_text("a non-image file")
    return root


def test_a_folder_of_images_to_csv_with_a_summary_and_a_resume(image_run, images, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert _main(["predict", image_run, images, "--out", out, "--top-k", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = _csv_rows(out)
    assert [r["path"] for r in rows] == ["day one/bag0.png", "day one/sneaker1.png", "day two/broken.png",
                                         "day two/later/bag3.png", "day two/later/sneaker4.png",
                                         "day two/trouser2.png"]
    assert rows[2]["error"] and not rows[2]["label"] and all(r["label"] for r in rows if r is not rows[2])
    counts = {label: sum(r["label"] == label for r in rows) for label in {r["label"] for r in rows} - {""}}
    assert f"Predicted 6 images in " in printed and f"-> {out} (6 rows, csv)" in printed
    assert "Per label: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))\
        in printed
    assert "Errors: 1" in printed and "images/s" in printed

    # the same command again: nothing to add, nothing duplicated
    assert _main(["predict", image_run, images, "--out", out, "--quiet"]) == 0
    assert "Already in the file, skipped: 6" in capsys.readouterr().out and _csv_rows(out) == rows


def test_jsonl_by_format_with_the_default_name_and_a_json_summary(image_run, images, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _main(["predict", image_run, images, "--format", "jsonl", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert summary["rows"] == summary["new"] == len(lines) == 6 and summary["errors"] == 1
    assert summary["format"] == "jsonl" and sum(summary["per_label"].values()) == 5
    assert all(len(r["top_k"]) == 3 for r in lines if "label" in r)


def test_ctrl_c_keeps_the_finished_batches_and_the_same_command_adds_the_rest(image_run, images, tmp_path, capsys,
                                                                              monkeypatch):
    from tlstudio.core.runs import predict_folder as core

    out = tmp_path / "p.csv"
    whole = tmp_path / "whole.csv"
    assert _main(["predict", image_run, images, "--out", whole, "--quiet"]) == 0
    original = core.FolderPredictor.batches

    def interrupted(self, *args, **kwargs):            # Ctrl+C once two batches are written
        batches = original(self, *args, **kwargs)
        yield next(batches)
        yield next(batches)
        raise KeyboardInterrupt

    monkeypatch.setattr(core.FolderPredictor, "batches", interrupted)
    monkeypatch.setattr(core, "extraction_batch_size", lambda device: 2)
    capsys.readouterr()
    assert _main(["predict", image_run, images, "--out", out, "--quiet"]) == 130
    assert "run the same command again" in _one_error_line(capsys)
    assert len(_csv_rows(out)) == 4
    monkeypatch.setattr(core.FolderPredictor, "batches", original)
    assert _main(["predict", image_run, images, "--out", out, "--quiet"]) == 0
    assert "Already in the file, skipped: 4" in capsys.readouterr().out
    assert [(r["path"], r["label"]) for r in _csv_rows(out)] == [(r["path"], r["label"]) for r in _csv_rows(whole)]


@pytest.mark.parametrize("case, fragment", [
    ("foreign", "is not a TL Studio CSV prediction file"),
    ("other_kind", "is not a TL Studio JSONL prediction file"),
    ("folder_and_file", "give one FOLDER alone"),
    ("empty", "There are no images below"),
    ("all_broken", "none of the 1 images"),
])
def test_what_predict_folder_refuses_is_one_line_and_exit_2(image_run, images, tmp_path, capsys, case, fragment):
    target = tmp_path / "mine.csv"
    argv = ["predict", image_run, images, "--out", target, "--quiet"]
    if case == "foreign":
        target.write_text("name,age\nbob,3\n")
    elif case == "other_kind":
        assert _main(argv) == 0
        argv += ["--format", "jsonl"]
    elif case == "folder_and_file":
        argv.insert(3, images / "day one" / "bag0.png")
    elif case == "empty":
        (tmp_path / "nothing").mkdir()
        argv[2] = tmp_path / "nothing"
    else:
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "x.jpg").write_bytes(b"\xff\xd8 not really")
        argv[2] = tmp_path / "bad"
    before = target.read_bytes() if target.exists() else None
    capsys.readouterr()
    assert _main(argv) == 2
    assert fragment in _one_error_line(capsys)
    if case in ("foreign", "other_kind"):
        assert target.read_bytes() == before


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli_predfolder_text")
    data = write_topic_csv(tmp / "topics.csv")
    assert _main(["train", data, "--task", "text", "--model", save_tiny(tmp / "tiny-bert", "bert"), "--out",
                  tmp / "run", "--epochs", "2", "--quiet", "--no-search"]) == 0
    return tmp / "run"


def test_a_text_folder_predicts_text_files_and_table_rows_as_predict_texts_does(text_run, tmp_path, capsys):
    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.runs.predict import predict_texts

    root = tmp_path / "inbox"
    (root / "mail" / "old").mkdir(parents=True)
    texts = {"mail/a.txt": "cold rain and snow", "mail/old/b.txt": "the cat and the dog",
             "sheet.csv:2": "sweet cake with apple", "sheet.csv:3": "a big storm cloud",
             "lines.jsonl:1": "salty soup", "lines.jsonl:3": "a red bird"}
    (root / "mail" / "a.txt").write_text(texts["mail/a.txt"])
    (root / "mail" / "old" / "b.txt").write_text(texts["mail/old/b.txt"])
    (root / "mail" / "empty.txt").write_text("  \n")
    (root / "sheet.csv").write_text(f"id,text\n1,{texts['sheet.csv:2']}\n2,{texts['sheet.csv:3']}\n")
    (root / "lines.jsonl").write_text(json.dumps({"text": "salty soup"}) + "\nnot json\n"
                                      + json.dumps({"text": "a red bird"}) + "\n")
    (root / "numbers.csv").write_text("a,b\n1,2\n")                 # no column can be told to hold text
    out = root / "predictions.csv"                                  # inside the folder: never read as input
    assert _main(["predict", text_run, root, "--out", out, "--top-k", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = {r["path"]: r for r in _csv_rows(out)}
    assert set(rows) == set(texts) | {"mail/empty.txt", "lines.jsonl:2", "numbers.csv"}
    assert summary["noun"] == "texts" and summary["errors"] == 3 and summary["rows"] == 9
    assert all(rows[k]["error"] for k in ("mail/empty.txt", "lines.jsonl:2", "numbers.csv"))
    single = predict_texts(load_model(text_run), list(texts.values()), top_k=2)
    assert [rows[k]["label"] for k in texts] == [p["label"] for p in single]
    assert [float(rows[k]["probability"]) for k in texts] == pytest.approx([p["probability"] for p in single],
                                                                          abs=1e-5)
    # again: the CSV written inside the folder is still not an input, and every row is there already
    assert _main(["predict", text_run, root, "--out", out, "--quiet"]) == 0
    assert "Predicted 0 texts" in capsys.readouterr().out and len(_csv_rows(out)) == 9

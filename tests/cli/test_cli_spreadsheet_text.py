"""tlstudio-cli on text tables as spreadsheets save them: every real-language variant scans and trains
as text; the issue's semicolon file trains with the default model; non-ASCII labels go through
predict, evaluate, export (bundle, ONNX) and audit; a table that is neither is one line, exit 2."""
import json

import pytest

from tlstudio.cli import commands as cli

from tests.core.data.spreadsheet_samples import JAPANESE, LANGUAGES, ROWS, VARIANTS, write_variant
from tests.core.text.tiny_models import save_tiny

pytest.importorskip("transformers")


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny-bert", "bert")


def test_every_variant_scans_and_trains_as_text_with_its_columns_and_rows(tmp_path, capsys, tiny_bert):
    for name, lang, _, _, _ in VARIANTS:
        data = write_variant(tmp_path, name)
        assert _main(["scan", data, "--json"]) == 0, capsys.readouterr().err
        report = json.loads(capsys.readouterr().out)
        assert (report["task"], report["text_column"], report["label_column"]) == ("text", *LANGUAGES[lang][1])
        assert report["total"] == ROWS and not report["issues"], (name, report)
        run = tmp_path / f"run-{name}"
        assert _main(["train", data, "--model", tiny_bert, "--out", run, "--epochs", "1", "--quiet",
                      "--no-search"]) == 0, capsys.readouterr().err
        capsys.readouterr()
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["train_images"] + metrics["val_images"] == ROWS, name
        assert sorted(json.loads((run / "model.json").read_text(encoding="utf-8"))["classes"]) == \
            sorted(LANGUAGES[lang][0])


def test_the_semicolon_file_trains_with_the_default_text_model(tmp_path, capsys):
    data = write_variant(tmp_path, "es_semicolon.csv")
    assert _main(["scan", data]) == 0
    out = capsys.readouterr().out
    assert "20 texts in 2 classes" in out and "semicolon-separated, text column 'Texto', label column 'Categoría'" in out
    assert "image" not in out.lower()
    assert _main(["train", data, "--out", tmp_path / "run", "--epochs", "5", "--quiet"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert _main(["predict", tmp_path / "run", "--text", "Adiós, hasta mañana", "--text", "¡Hola, buenos días!",
                  "--json"]) == 0
    labels = [r["label"] for r in json.loads(capsys.readouterr().out)]
    assert labels == ["adiós", "hola"]


def test_japanese_labels_through_predict_evaluate_export_and_audit(tmp_path, capsys, tiny_bert):
    data = write_variant(tmp_path, "ja_comma_bom_multiline.csv")
    run = tmp_path / "run"
    assert _main(["train", data, "--model", tiny_bert, "--out", run, "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert _main(["predict", run, "--text", "明日は雨が降るでしょう。", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert result["label"] in JAPANESE and set(p["label"] for p in result["top_k"]) == set(JAPANESE)
    assert _main(["predict", run, "--text", "寿司がおいしい"]) == 0
    assert any(label in capsys.readouterr().out for label in JAPANESE)
    assert _main(["evaluate", run, data, "--json", "--quiet"]) == 0
    assert set(json.loads(capsys.readouterr().out)["per_class"]) == set(JAPANESE)
    assert _main(["export", run, "--format", "bundle", "--out", tmp_path / "bundle", "--with-onnx"]) == 0
    capsys.readouterr()
    assert _main(["predict", tmp_path / "bundle", "--text", "雪が降っています", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] in JAPANESE
    assert _main(["export", run, "--format", "onnx", "--out", tmp_path / "m.onnx"]) == 0
    assert "onnx export written" in capsys.readouterr().out
    assert _main(["audit", data, "--model", tiny_bert, "--json", "--quiet"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert audit["label_issues"] and all(i["given"] in JAPANESE for i in audit["label_issues"])


def test_a_table_that_is_neither_is_one_line_exit_2_and_task_decides(tmp_path, capsys):
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a,b,c\n1,2,3\n4,5,6\n", encoding="utf-8")
    for command in (["scan", numbers], ["train", numbers, "--out", tmp_path / "run", "--quiet"],
                    ["audit", numbers, "--quiet"]):
        assert _main(command) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and "say which with --task image or --task text." in err[0], err
        assert "comma-separated table with 3 column(s) (a, b, c)" in err[0]
    assert not (tmp_path / "run").exists()
    assert _main(["scan", numbers, "--task", "image"]) == 2
    assert "No usable images" in capsys.readouterr().err
    spanish = write_variant(tmp_path, "es_semicolon.csv")
    spanish.with_suffix(".bin").write_bytes(spanish.read_text(encoding="utf-8").encode("cp1252"))
    cp1252 = spanish.with_name("excel.csv")
    spanish.with_suffix(".bin").rename(cp1252)
    assert _main(["scan", cp1252, "--encoding", "cp1252", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == ROWS
    assert _main(["scan", cp1252, "--encoding", "utf-8"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read as utf-8: byte 0xed on line 1" in err and "--encoding NAME" in err

"""tlstudio-cli on text: train (detected or --task text), models, predict --text/--file, evaluate, export."""
import json

import pytest

from tlstudio.cli import commands as cli
from tlstudio.core.paths import resources_dir

from tests.core.text.tiny_models import save_tiny, write_topic_csv

pytest.importorskip("transformers")
DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_models_task_text_lists_the_text_cards_with_family_and_weight_source(capsys):
    assert _main(["models", "--task", "text", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["all-MiniLM-L6-v2"]["weights"] == "bundled" and rows["all-MiniLM-L6-v2"]["family"] == "MiniLM"
    assert {r["family"] for r in rows.values()} >= {"BERT", "DistilBERT", "RoBERTa", "GPT-2", "XLNet"}
    assert rows["gpt2"]["weights"] == "download"


def test_text_train_predict_evaluate_export_on_the_demo_data(tmp_path, capsys):
    run = tmp_path / "run"
    assert _main(["train", DEMO, "--out", run, "--epochs", "12", "--lr", "0.01", "--max-length", "48",
                  "--quiet", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["val_accuracy"] > 0.75 and metrics["cached_features"]
    info = json.loads((run / "model.json").read_text())
    assert info["task"] == "text" and info["model_name"] == "all-MiniLM-L6-v2"
    assert info["preprocessing"]["tokenizer"] == "text_model" and info["preprocessing"]["max_length"] == 48

    lines = tmp_path / "lines.txt"
    lines.write_text("a dish of cooked rice and vegetables\n\nthe joint between the thigh and the lower leg\n",
                     encoding="utf-8")
    assert _main(["predict", run, "--text", "a large wild cat with a tawny coat", "--file", lines,
                  "--top-k", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in results] == ["animal", "food", "body"]
    assert all(len(r["top_k"]) == 2 for r in results)

    assert _main(["evaluate", run, DEMO, "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 360 and result["accuracy"] > 0.8
    assert set(result["per_class"]) == set(info["classes"])
    assert sum(map(sum, result["confusion_matrix"])) == 360
    assert all(m["text"] and m["true"] != m["predicted"] for m in result["misclassified"])

    assert _main(["export", run, "--format", "bundle", "--out", tmp_path / "bundle"]) == 0
    assert (tmp_path / "bundle" / "text_model" / "vocab.txt").is_file()


def test_text_training_is_forced_with_task_and_takes_a_model_folder(tmp_path, capsys):
    folder = save_tiny(tmp_path / "tiny-bert", "bert")
    data = tmp_path / "data.csv"
    write_topic_csv(data)
    assert _main(["train", data, "--task", "text", "--model", folder, "--out", tmp_path / "run", "--epochs", "2",
                  "--quiet"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "run" / "model.json").read_text())["task"] == "text"
    assert _main(["predict", tmp_path / "run", "--text", "cold rain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] in ("weather", "animals", "food")
    assert _main(["export", tmp_path / "run", "--format", "onnx", "--out", tmp_path / "m.onnx"]) == 0
    assert "onnx export written" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--max-length", "100000"], "maximum text length"),
    (["--max-length", "2"], "maximum text length"),
    (["--model", "not-a-text-model"], "Unknown text model"),
    (["--augment", "light"], "no augmentation"),
    (["--model", "/no/such/folder"], "not a Hugging Face model folder"),
])
def test_bad_text_training_input_is_one_line_exit_2_and_no_run_folder(tmp_path, capsys, argv, message):
    run = tmp_path / "run"
    assert _main(["train", DEMO, "--out", run, "--quiet", *argv]) == 2
    assert message in _one_error_line(capsys)
    assert not run.exists()


def test_bad_prediction_input_is_one_line_exit_2(tmp_path, capsys):
    folder = save_tiny(tmp_path / "tiny-gpt", "gpt2")
    data = write_topic_csv(tmp_path / "data.csv")
    assert _main(["train", data, "--model", folder, "--out", tmp_path / "run", "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    assert _main(["predict", run]) == 2
    assert "No texts" in _one_error_line(capsys)
    assert _main(["predict", run, "--file", tmp_path / "missing.txt"]) == 2
    assert "not found" in _one_error_line(capsys)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    assert _main(["predict", run, "--file", latin]) == 2
    assert "not UTF-8" in _one_error_line(capsys)
    assert _main(["predict", run, "picture.jpg"]) == 2
    assert "text model" in _one_error_line(capsys)
    assert _main(["predict", run, "--text", "   "]) == 2
    err = capsys.readouterr().err
    assert "could be classified" in err and "Traceback" not in err

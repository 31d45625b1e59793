"""tlstudio-cli explain: the overlay PNG (and nothing else) for images, token scores for texts."""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tlstudio.cli import commands as cli
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project
from tlstudio.core.train.trainer import Trainer

from tests.core.runs.run_factory import IMAGE_SIZE, make_run
from tests.core.text.tiny_models import save_tiny, write_topic_csv


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _error_line(capsys, argv) -> str:
    assert _main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    torch.set_num_threads(2)
    return make_run(tmp_path_factory.mktemp("explain_cli") / "run")


def _demo_image() -> Path:
    return sorted((demo_data_dir() / "sneaker").iterdir())[0]


def test_explain_writes_only_the_overlay_png_and_refuses_to_overwrite_it(image_run, tmp_path, capsys):
    out = tmp_path / "where.png"
    assert _main(["explain", image_run, _demo_image(), "--out", out]) == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    label, probability = first.rsplit(" ", 2)[-2:]
    assert label in ("bag", "sneaker", "trouser") and 0 < float(probability) <= 1
    assert "overlay written to" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["where.png"]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (IMAGE_SIZE, IMAGE_SIZE) and im.mode == "RGB"
    before = out.read_bytes()
    assert "already exists" in _error_line(capsys, ["explain", image_run, _demo_image(), "--out", out])
    assert out.read_bytes() == before
    assert _main(["explain", image_run, _demo_image(), "--out", out, "--force", "--class", "bag", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["explained"] == "bag" and result["method"] == "Grad-CAM" and result["out"] == str(out)


def test_explain_bad_input_is_one_line(image_run, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert "no class 'zebra'" in _error_line(capsys, ["explain", image_run, _demo_image(), "--out", out,
                                                      "--class", "zebra"])
    assert "does not exist" in _error_line(capsys, ["explain", image_run, tmp_path / "none.png", "--out", out])
    assert "--out" in _error_line(capsys, ["explain", image_run, _demo_image()])
    assert ".png" in _error_line(capsys, ["explain", image_run, _demo_image(), "--out", tmp_path / "x.jpg"])
    assert "text" in _error_line(capsys, ["explain", image_run, "--text", "a cat", "--out", out])
    assert "model.json" in _error_line(capsys, ["explain", tmp_path, _demo_image(), "--out", out])
    assert not out.exists()


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    torch.set_num_threads(2)
    base = tmp_path_factory.mktemp("explain_cli_text")
    project = Project(name="text", task="text")
    project.data.path = str(write_topic_csv(base / "topics.csv"))
    project.model.name = str(save_tiny(base / "gpt2", "gpt2"))
    project.model.max_length = 32
    project.training.epochs, project.training.head_fit = 2, "epochs"
    assert Trainer(project, base / "run", lambda e: None).run()["error"] is None
    return base / "run"


def test_explain_a_text_prints_token_scores_and_writes_highlighted_text(text_run, tmp_path, capsys):
    text = "cold rain and a big storm"
    assert _main(["explain", text_run, "--text", text, "--json"]) == 0
    tokens = json.loads(capsys.readouterr().out)
    assert [t["token"] for t in tokens] == text.split()
    assert all(isinstance(t["score"], float) for t in tokens) and any(t["score"] != 0 for t in tokens)
    assert _main(["explain", text_run, "--text", text]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("predicted: ") and [line.split()[0] for line in lines[1:7]] == text.split()
    html = tmp_path / "words.html"
    assert _main(["explain", text_run, "--text", text, "--out", html]) == 0
    assert html.read_text(encoding="utf-8").count("<span") == 6
    png = tmp_path / "words.png"
    assert _main(["explain", text_run, "--text", text, "--out", png, "--class", "food"]) == 0
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width == 800
    assert "already exists" in _error_line(capsys, ["explain", text_run, "--text", text, "--out", png])
    assert "--text" in _error_line(capsys, ["explain", text_run, "some_file.txt"])
    assert "empty" in _error_line(capsys, ["explain", text_run, "--text", "   "])

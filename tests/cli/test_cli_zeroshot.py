"""tlstudio-cli zeroshot: the class-name baseline on real texts, suggestions stored only when asked, no fake CLIP."""
import json

import pytest

from tlstudio.cli import commands as cli
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project

pytest.importorskip("transformers")
DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _small_demo(path, per_class=8):
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    seen, rows = {}, [lines[0]]
    for line in lines[1:]:
        label = line.rsplit(",", 1)[-1]
        if seen.get(label, 0) < per_class and '"' not in line:
            seen[label] = seen.get(label, 0) + 1
            rows.append(line)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_zeroshot_reports_accuracy_well_above_chance_on_real_texts(tmp_path, capsys):
    data = _small_demo(tmp_path / "texts.csv")
    project = Project(name="zs", task="text")
    project.data.path = str(data)
    project.data.class_descriptions = {"feeling": "an emotion"}
    project.save(tmp_path / "p.json")
    assert _main(["zeroshot", "--project", tmp_path / "p.json", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["labelled"] == 48 and result["accuracy"] > 3 * result["chance"]
    assert result["described"] and "feeling: an emotion" in result["prompts"]
    assert result["calibration"]["temperature"] > 0
    assert _main(["zeroshot", data, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Zero-shot (class names): acc") and "temperature from labelled samples (48)" in out
    before = (tmp_path / "p.json").read_text()
    assert _main(["zeroshot", "--project", tmp_path / "p.json", "--save-suggestions", "-q"]) == 0
    assert Project.load(tmp_path / "p.json").data.suggestions == {}        # no pool: nothing suggested
    assert json.loads(before)["data"]["class_descriptions"] == {"feeling": "an emotion"}


def test_zeroshot_on_images_without_a_clip_model_is_one_plain_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from tests.demo_subset import make_subset

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    images = make_subset(tmp_path / "images", 2)
    assert _main(["zeroshot", images]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a CLIP-style model" in err[0] and "bundles none" in err[0]
    assert _main(["zeroshot", images, "--save-suggestions"]) == 2
    assert "--project" in capsys.readouterr().err

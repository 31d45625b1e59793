"""tlstudio-cli suggest: on real texts with most labels left empty, the JSON names pool rows with a
suggested class; labels given in the project leave the pool; nothing labelled is a cold start; bad input
is one line and exit 2."""
import csv
import json

from tlstudio.cli import commands as cli
from tlstudio.core.data.curation import label_pool_sample
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project

DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"
PER_CLASS, LABELLED = 15, 3


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def write_pool_csv(path, labelled: int):
    """``PER_CLASS`` real definitions per topic, the first ``labelled`` of each keeping its label; the
    true labels of every row, by its locator."""
    rows = list(csv.reader(DEMO.open(encoding="utf-8")))[1:]
    seen: dict[str, int] = {}
    out, truth = [["text", "label"]], {}
    for text, label in rows:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= PER_CLASS:
            out.append([text, label if seen[label] <= labelled else ""])
            truth[f"{path.name}:{len(out)}"] = label
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(out)
    return truth


def test_suggest_json_labels_and_cold_start(tmp_path, capsys):
    data = tmp_path / "defs.csv"
    truth = write_pool_csv(data, LABELLED)
    assert _main(["suggest", data, "--json", "--top", "5", "--device", "cpu"]) == 0
    j = json.loads(capsys.readouterr().out)
    classes = sorted(set(truth.values()))
    assert j["task"] == "text" and sorted(j["classes"]) == classes and not j["cold_start"]
    assert j["labelled"] == LABELLED * len(classes) and j["unlabeled"] == (PER_CLASS - LABELLED) * len(classes)
    assert len(j["suggestions"]) == 5
    for s in j["suggestions"]:
        assert set(s) == {"row", "text", "suggested", "confidence", "score"}
        assert s["row"] in truth and s["text"] and s["suggested"] in classes and 0 < s["confidence"] <= 1
    assert len({s["row"] for s in j["suggestions"]}) == 5
    assert isinstance(j["accuracy_estimate"], float) and j["how"]

    # Labels given in the project (not in the file) leave the pool and count as labelled.
    first = j["suggestions"][0]["row"]
    p = Project(name="p", task="text")
    p.data.path = str(data)
    p.model.name = "all-MiniLM-L6-v2"
    label_pool_sample(p, first, truth[first])
    p.save(tmp_path / "p.json")
    assert _main(["suggest", "--project", tmp_path / "p.json", "--device", "cpu", "--json", "--top", "40"]) == 0
    k = json.loads(capsys.readouterr().out)
    assert k["labelled"] == j["labelled"] + 1 and k["unlabeled"] == j["unlabeled"] - 1
    assert first not in {s["row"] for s in k["suggestions"]}
    assert _main(["suggest", "--project", tmp_path / "p.json", "--device", "cpu", "-q", "--top", "3"]) == 0
    table = capsys.readouterr().out
    assert f"{j['labelled'] + 1} labelled" in table and "score" in table

    # Nothing labelled: diversity only, said so, no suggested class.
    write_pool_csv(data, 0)
    assert _main(["suggest", data, "--json", "--top", "6", "--device", "cpu"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["cold_start"] and c["labelled"] == 0 and "Nothing is labelled" in c["how"]
    assert [s["suggested"] for s in c["suggestions"]] == [None] * 6
    # Typical samples of different groups: the six picks reach several of the six topics.
    assert len({truth[s["row"]] for s in c["suggestions"]}) >= 3


def test_suggest_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for argv in (["suggest"], ["suggest", tmp_path / "missing"], ["suggest", DEMO, "--top", "0"],
                 ["suggest", "--project", tmp_path / "none.json"],
                 ["suggest", DEMO, "--device", "cpu"]):                     # every row labelled: no pool
        assert _main(argv) == 2
        err = capsys.readouterr().err
        assert len([line for line in err.splitlines() if line.strip()]) == 1 and "Traceback" not in err
    assert "no unlabeled" in err

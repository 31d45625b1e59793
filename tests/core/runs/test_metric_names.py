"""One name per metric with its source, and the evaluation choices a run really has."""
import json

from tlstudio.core.runs.evaluate import HELDOUT_SPLIT as HELDOUT, evaluation_choices
from tlstudio.core.runs.metric_names import accuracy_text, metrics_line, source_name

OOF = "out-of-fold predictions (5-fold cross-validation; each sample predicted by a head that never saw it)"


def test_sources_have_one_short_name():
    assert source_name(OOF) == "out-of-fold"
    assert source_name("val split") == source_name("validation split (the final head did not train on it)") \
        == "validation split"
    assert source_name("validation split, measured before the final refit") == \
        "validation split (before the final refit)"
    assert source_name("test split") == "test split" and source_name("/data/holdout") == "holdout"
    assert accuracy_text(0.947, OOF) == "94.7% (out-of-fold)"


def test_the_metrics_line_names_each_figure_and_where_it_comes_from():
    result = {"accuracy": 0.947, "top_k": 1, "top_k_accuracy": 0.947, "macro_f1": 0.9466, "samples": 300,
              "source": OOF}
    assert metrics_line(result) == "Accuracy 94.7% · macro F1 0.947 — out-of-fold, 300 images"
    result.update(top_k=3, top_k_accuracy=0.99, source="test split", samples=60)
    assert metrics_line(result, "texts") == ("Accuracy 94.7% · top-3 accuracy 99.0% · macro F1 0.947 — "
                                             "test split, 60 texts")


def write(run, name, data):
    (run / name).write_text(json.dumps(data))


def test_evaluation_choices_list_only_what_the_run_has(tmp_path):
    row = {"path": "a.png", "label": 0}
    refit = tmp_path / "refit"
    refit.mkdir()
    write(refit, "split.json", {"train": [row], "val": [row, row], "test": []})
    write(refit, "search.json", {"refit": True})
    write(refit, "heldout_predictions.json", {"source": OOF, "classes": ["a"], "predictions": [{}, {}, {}]})
    assert evaluation_choices(refit) == [(HELDOUT, "Out-of-fold (3)")]     # no test split, val was trained on
    epochs = tmp_path / "epochs"
    epochs.mkdir()
    write(epochs, "split.json", {"train": [row], "val": [row, row], "test": [row]})
    assert evaluation_choices(epochs) == [("val", "Validation split (2)"), ("test", "Test split (1)")]

"""The automatic head fit on cached features of real images (the bundled demo set, EfficientNet-Lite0)."""
from __future__ import annotations

import json

import pytest
import torch

from tlstudio.core.model.head import HeadSpec
from tlstudio.core.project import Project
from tlstudio.core.calibration import expected_calibration_error, fit_temperature, fold_temperature
from tlstudio.core.headsearch import search as hs

from tests.core.insight import real_features

DEMO, SIZE = real_features.DEMO, real_features.SIZE


@pytest.fixture(scope="module")
def demo_features():
    """(features, labels) of the 300 demo images at 64 px, and a stratified 180/120 labelled/held-out split."""
    feats, labels, classes, _ = real_features.demo_features()
    x, y = torch.from_numpy(feats), torch.from_numpy(labels)
    fold = hs.stratified_folds(y, 5, seed=3)
    held = fold < 2                                  # 120 held out, 180 labelled
    order = torch.randperm(int((~held).sum()), generator=torch.Generator().manual_seed(0))
    return x[~held][order], y[~held][order], x[held], y[held], len(classes)


def _acc(head, x, y) -> float:
    with torch.no_grad():
        return float((head(x).argmax(1) == y).float().mean())


def test_auto_fit_at_least_as_accurate_as_a_fixed_10_epoch_head(demo_features):
    x, y, hx, hy, c = demo_features
    n_val = len(y) // 5
    result = hs.search_head(x[n_val:], y[n_val:], x[:n_val], y[:n_val], c)
    fixed = hs.fixed_head(x[n_val:], y[n_val:], c, HeadSpec.default(), lr=1e-3, weight_decay=1e-4, epochs=10)
    auto_acc, fixed_acc = _acc(result.head, hx, hy), _acc(fixed, hx, hy)
    assert auto_acc >= fixed_acc
    assert auto_acc > 0.75
    assert result.method == "5-fold cross-validation"
    assert result.refit and result.fit_samples == len(y)
    assert len(result.trials) == len(hs.configs_for(lr=None, weight_decay=None, head=None))
    assert sum(row["winner"] for row in result.table()) == 1
    assert result.heldout_labels.numel() == len(y)         # every labelled sample has an out-of-fold prediction


def test_temperature_lowers_calibration_error_on_held_out_data(demo_features):
    x, y, hx, hy, c = demo_features
    n_val = len(y) // 3
    # A head trained long at a high rate on raw features is over-confident; the temperature fitted on
    # validation logits lowers its calibration error on samples neither has seen.
    head = hs.fixed_head(x[n_val:], y[n_val:], c, HeadSpec(layers=[]), lr=1e-2, weight_decay=0.0, epochs=30)
    with torch.no_grad():
        t = fit_temperature(head(x[:n_val]), y[:n_val])
        before = expected_calibration_error(head(hx), hy)
        fold_temperature(head, t)
        after = expected_calibration_error(head(hx), hy)
    assert t > 1.5
    assert after < before


def test_explicit_settings_are_not_searched(demo_features):
    x, y, _, _, c = demo_features
    spec = HeadSpec(layers=[])
    result = hs.search_head(x[40:], y[40:], x[:40], y[:40], c, lr=5e-3, weight_decay=0.0, epochs=7, head=spec)
    assert len(result.trials) == 1
    trial = result.best
    assert (trial.config.lr, trial.config.weight_decay, trial.epochs) == (5e-3, 0.0, 7)
    assert trial.config.head is spec
    assert sorted(result.explicit) == ["epochs", "head", "lr", "weight_decay"]
    # a kept validation split: the final head trains on the train split only
    kept = hs.search_head(x[40:], y[40:], x[:40], y[:40], c, lr=5e-3, weight_decay=0.0, epochs=7, head=spec,
                          refit=False)
    assert kept.fit_samples == len(y) - 40


def test_project_records_auto_and_explicit_fields(tmp_path):
    p = Project()
    assert p.training.auto == ["lr", "weight_decay", "epochs", "head"] and p.training.head_fit == "search"
    p.training.set_explicit("lr")
    p.save(tmp_path / "p.json")
    assert Project.load(tmp_path / "p.json").training.auto == ["weight_decay", "epochs", "head"]
    # A file older than 'auto': a value that differs from that time's default was the user's choice.
    old = Project().to_dict()
    del old["training"]["auto"], old["training"]["head_fit"], old["training"]["refit"]
    old["training"]["lr"] = 0.01
    old["head"] = {"layers": [], "num_classes": 2}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = Project.load(tmp_path / "old.json")
    assert loaded.training.auto == ["weight_decay", "epochs"]
    assert loaded.training.lr == 0.01


def test_cli_explicit_values_leave_the_search(tmp_path):
    from tlstudio.cli.commands import build_parser, build_project

    args = build_parser().parse_args(["train", str(DEMO), "--out", str(tmp_path / "r"), "--lr", "0.02",
                                      "--weight-decay", "0.5"])
    project = build_project(args)
    assert project.training.auto == ["epochs", "head"]
    assert (project.training.lr, project.training.weight_decay) == (0.02, 0.5)


def test_trainer_refits_on_all_labelled_samples_and_never_the_test_split(tmp_path):
    from tlstudio.core import events as ev
    from tlstudio.core.runs.run_folder import HELDOUT as HELDOUT_NAME
    from tlstudio.core.train.trainer import Trainer

    p = Project(name="t")
    p.data.path = str(DEMO)
    p.data.test_fraction = 0.2
    p.model.image_size = SIZE
    events = []
    metrics = Trainer(p, tmp_path / "run", events.append).run()
    assert metrics["error"] is None
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    labelled = {row[0] if isinstance(row, list) else row["path"] for row in split["train"] + split["val"]}
    test = {row[0] if isinstance(row, list) else row["path"] for row in split["test"]}
    assert metrics["fit_samples"] == len(labelled) == metrics["train_images"] + metrics["val_images"]
    held = json.loads((tmp_path / "run" / HELDOUT_NAME).read_text())
    assert {e["path"] for e in held["predictions"]} == labelled and not (labelled & test)
    assert "out-of-fold" in held["source"] and "out-of-fold" in metrics["accuracy_source"]
    assert metrics["headline"] == "test_accuracy" and metrics["test_accuracy"] > 0.7
    search = json.loads((tmp_path / "run" / "search.json").read_text())
    assert search["refit"] and len(search["trials"]) >= 2
    assert any(isinstance(e, ev.HeadSearchFinished) for e in events)
    # the run's project.json records the choice: running it again reproduces the head
    snap = json.loads((tmp_path / "run" / "project.json").read_text())
    assert snap["training"]["auto"] == [] and snap["training"]["lr"] == search["winner"]["lr"]
    again = Project.from_dict(snap)
    metrics2 = Trainer(again, tmp_path / "run2").run()
    assert metrics2["test_accuracy"] == metrics["test_accuracy"]
    model_info = json.loads((tmp_path / "run" / "model.json").read_text())
    assert model_info["calibration"]["temperature"] == pytest.approx(search["temperature"])


def test_validation_evaluation_of_a_refit_run_is_the_out_of_fold_report(tmp_path):
    """After a refit the final head trained on the validation split: 'val' means out-of-fold."""
    from tlstudio.core.runs.evaluate import evaluate_run
    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.train.trainer import Trainer

    p = Project(name="t")
    p.data.path = str(DEMO)
    p.model.image_size = SIZE
    metrics = Trainer(p, tmp_path / "run").run()
    result = evaluate_run(load_model(tmp_path / "run"), tmp_path / "run", split="val")
    assert result["heldout"] and "out-of-fold" in result["source"]
    assert result["samples"] == metrics["fit_samples"] == metrics["train_images"] + metrics["val_images"]
    assert result["accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert sum(map(sum, result["confusion_matrix"])) == result["samples"]


def test_a_hidden_head_fitted_on_principal_components_takes_the_full_features(demo_features):
    """Hidden heads search on 256 principal components; the basis folds into the saved first layer."""
    x, y, hx, hy, c = demo_features
    spec = hs.SEARCH_HEADS[1]
    mean, std = hs.standardiser(x)
    basis = hs.principal_basis((x - mean) / std)
    assert basis.shape == (x.shape[1], min(len(y), hs.HIDDEN_INPUT_DIM))    # at most the data's rank
    result = hs.search_head(x[40:], y[40:], x[:40], y[:40], c, head=spec, lr=1e-3, weight_decay=1e-2)
    first = result.head[0]
    assert first.in_features == x.shape[1] and first.out_features == hs.HIDDEN_WIDTH
    fixed = hs.fixed_head(x[40:], y[40:], c, HeadSpec.default(), lr=1e-3, weight_decay=1e-4, epochs=10)
    assert _acc(result.head, hx, hy) >= _acc(fixed, hx, hy) - 0.02
    assert _acc(result.head, hx, hy) > 0.75


def test_the_search_reports_each_candidate_per_epoch_and_the_refit_as_events():
    from tlstudio.core import events as ev
    from tlstudio.core.headsearch.curves import SearchCurves

    g = torch.Generator().manual_seed(3)
    y = torch.arange(120) % 3
    x = torch.randn(120, 16, generator=g) + torch.nn.functional.one_hot(y, 3).repeat(1, 6)[:, :16] * 2.0
    got, curves = [], SearchCurves()

    def report(event):
        got.append(event)
        ev.dispatch(curves, event)

    result = hs.search_head(x[:96], y[:96], x[96:], y[96:], 3, report=report)
    started = [e for e in got if isinstance(e, ev.HeadSearchStarted)]
    assert len(started) == 1 and started[0].candidates == len(result.trials) and started[0].folds == result.folds
    finished = [e for e in got if isinstance(e, ev.HeadSearchTrial) and e.finished]
    assert sorted(e.candidate for e in finished) == list(range(len(result.trials)))
    assert [round(e.cv_acc, 6) for e in sorted(finished, key=lambda e: e.candidate)] == \
        [round(t.score_acc, 6) for t in result.trials]
    # Every candidate has a held-out curve (fold-averaged, one point per epoch it trained), plain floats.
    for i, c in enumerate(curves.candidates):
        assert len(c["val_loss"]) >= result.trials[i].epochs and all(0 <= a <= 1 for a in c["val_acc"])
    refit = [e for e in got if isinstance(e, ev.HeadRefitEpoch)]
    assert [e.epoch for e in refit] == list(range(1, result.best.epochs + 1))
    assert all(type(v) in (int, float, str, bool) for e in got for v in e.to_dict().values())
    # The saved form reads back the same (the run folder's search_curves.json).
    curves.winner = result.winner
    again = SearchCurves.from_dict(json.loads(json.dumps(curves.to_dict())))
    assert again.to_dict() == curves.to_dict() and again.legend().startswith(f"{result.folds}-fold CV, ")


def test_a_cancelled_search_stops_between_epochs():
    from tlstudio.core.progress import Cancelled, JobState

    calls = []

    class CancelledAfterThreeEpochs(JobState):
        def check(self):
            calls.append(1)
            if len(calls) > 3:
                self.cancel()
            super().check()

    x, y = torch.randn(60, 8), torch.arange(60) % 2
    with pytest.raises(Cancelled):
        hs.search_head(x[:48], y[:48], x[48:], y[48:], 2, job=CancelledAfterThreeEpochs(), report=lambda e: None)
    assert len(calls) == 4

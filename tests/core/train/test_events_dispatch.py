"""events.dispatch: one handler per event type, used by the CLI and the GUI alike."""
from tlstudio.core import events as ev


def test_every_event_type_has_a_distinct_handler_name():
    kinds = [ev.StageStarted, ev.FeatureExtractionProgress, ev.BatchProgress, ev.EpochEnded,
             ev.CheckpointSaved, ev.RunFinished, ev.RunFailed, ev.HeadSearchStarted, ev.HeadSearchTrial,
             ev.HeadSearchEpoch, ev.HeadRefitEpoch, ev.HeadSearchFinished]
    names = [ev.handler_name(kind) for kind in kinds]
    assert names[1] == "on_feature_extraction_progress" and names[2] == "on_batch_progress"
    assert len(set(names)) == len(names)


def test_dispatch_calls_the_matching_handler_and_ignores_the_rest():
    class Sink:
        def __init__(self):
            self.got = []

        def on_run_failed(self, event):
            self.got.append(event.message)

    sink = Sink()
    ev.dispatch(sink, ev.RunFailed(message="disk full"))
    ev.dispatch(sink, ev.CheckpointSaved(path="p", stage=1, epoch=1, val_acc=0.5))   # no handler: ignored
    assert sink.got == ["disk full"]


def test_the_cli_handles_events_through_dispatch():
    import io

    from tlstudio.cli.progress import TerminalProgress

    out = io.StringIO()
    bar = TerminalProgress(stream=out)
    bar(ev.StageStarted(stage=1, epochs=3, trainable_params=1234, cached_features=True))
    bar(ev.EpochEnded(stage=1, epoch=1, train_loss=0.5, train_acc=0.8, val_loss=0.6, val_acc=0.7, lr=1e-3,
                      seconds=1.0))
    bar(ev.RunFinished(run_dir="r", best_val_acc=0.7, epochs_run=1, seconds=2.0, cancelled=True))
    text = out.getvalue()
    assert "Stage 1: training the head for 3 epoch(s), 1,234 trainable parameters, cached features" in text
    assert "Epoch 1/3: loss 0.5000" in text and "Stopped: best val accuracy 0.700" in text


def test_the_cli_draws_the_head_search_as_a_bar_over_candidates_and_says_what_was_chosen():
    import io

    from tlstudio.cli.progress import TerminalProgress

    out = io.StringIO()
    bar = TerminalProgress(stream=out)
    bar._redraw.due = lambda final=False: True          # every redraw shows (no throttle in a test)
    bar(ev.HeadSearchStarted(candidates=9, folds=5, method="5-fold cross-validation", samples=300))
    bar(ev.HeadSearchEpoch(candidate=0, epoch=4, val_loss=0.3, val_acc=0.9))
    bar(ev.HeadSearchTrial(candidate=2, candidates=9, label="linear, lr 2e-3, wd 1e-1", finished=True, done=3,
                           cv_loss=0.2, cv_acc=0.957, epochs=16, eta_seconds=12.0))
    bar(ev.HeadRefitEpoch(epoch=5, epochs=10, train_loss=0.1))
    search = {"method": "5-fold cross-validation", "folds": 5, "seconds": 4.8, "heldout_accuracy": 0.942,
              "winner": {"head": "hidden 128", "lr": 2e-3, "weight_decay": 1e-2, "epochs": 65},
              "trials": [{"winner": i == 8} for i in range(9)]}
    bar.on_head_search_finished = lambda event: setattr(bar, "_searched", event.search)   # no table here
    bar(ev.HeadSearchFinished(search=search, table=""))
    bar(ev.RunFinished(run_dir="r", best_val_acc=0.942, epochs_run=0, seconds=9.0, cancelled=False))
    text = out.getvalue()
    assert "Head search: 9 candidates, 5-fold cross-validation on 300 samples" in text
    assert "3/9 candidates (epoch 4) best 0.957 ETA 0:12" in text
    assert "Refit of the winner" in text and "epoch 5/10" in text
    assert ("Finished: head chosen by 5-fold search over 9 candidates: hidden 128, lr 2e-3, 65 epochs — "
            "out-of-fold accuracy 94.2 % in 4.8 s") in text

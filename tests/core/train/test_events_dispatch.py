"""events.dispatch: one handler per event type, used by the CLI and the GUI alike."""
from tlstudio.core.train import events as ev


def test_every_event_type_has_a_distinct_handler_name():
    kinds = [ev.StageStarted, ev.FeatureExtractionProgress, ev.BatchProgress, ev.EpochEnded,
             ev.CheckpointSaved, ev.RunFinished, ev.RunFailed]
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
